import t from 'tap'
import { createTaskQueue, TASK_ID } from '../../../tasks/queue.js'
import { createMemoryTaskStore } from '../../../tasks/store/memory.js'
import { tickTaskId } from '../../../tasks/schedules/task-queue-port.js'

const queue = () => createTaskQueue({ store: createMemoryTaskStore({ retentionMs: 60_000 }), clock: () => 1_000, defaults: { timeoutMs: 1000, maxAttempts: 3 }, nodes: async () => ['n1', 'n2'] })

t.test('a tick\'s task id is the same on every node, differs per tick and schedule, and is a queue id', async (t) => {
  t.equal(tickTaskId('a', 60_000), tickTaskId('a', 60_000))
  t.not(tickTaskId('a', 60_000), tickTaskId('a', 120_000))
  t.not(tickTaskId('a', 60_000), tickTaskId('b', 60_000))
  t.match(tickTaskId('a', 60_000), TASK_ID)
})

t.test('the queue takes a given id, for one task or an on: every task and its copies', async (t) => {
  const q = queue()
  const id = tickTaskId('a', 60_000)
  t.same(await q.add({ id, name: 'w' }), { id, state: 'queued' })
  t.match(await q.get(id), { id, name: 'w' })
  const every = tickTaskId('b', 60_000)
  await q.add({ id: every, name: 'w', on: 'every' })
  t.same((await q.get(every))?.children, [`${every}-1`, `${every}-2`])
})

t.test('an id that is not 32 lowercase hex digits is a bad task', async (t) => {
  await t.rejects(queue().add({ id: 'ABC', name: 'w' }), { code: 'TASK_ERR_BAD_TASK', message: /id: expected 32 lowercase hex digits/ })
})
