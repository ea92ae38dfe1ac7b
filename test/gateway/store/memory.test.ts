import t from 'tap'
import { createMemoryStore } from '../../../gateway/store/memory.js'
import { contractTimeouts, storeContract } from './contract.js'

t.test('memory store', async (t) => {
  storeContract(t, async () => createMemoryStore(contractTimeouts))
})
