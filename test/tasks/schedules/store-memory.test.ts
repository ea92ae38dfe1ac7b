import t from 'tap'
import { createMemoryScheduleStore } from '../../../tasks/schedules/schedule-store-memory.js'
import { storeContract } from './store-contract.js'

t.test('memory schedule store', async (t) => {
  storeContract(t, async () => {
    let now = 0
    return { store: createMemoryScheduleStore(() => now), at: async (ms) => { now = ms }, close: async () => {} }
  })
})
