import t from 'tap'
import { createMemoryTaskStore } from '../../../tasks/store/memory.js'
import { RETENTION, taskStoreContract } from './contract.js'

t.test('memory task store', async (t) => {
  taskStoreContract(t, async () => createMemoryTaskStore({ retentionMs: RETENTION }))
})
