import t from 'tap'
import { Registry } from 'prom-client'
import { createTasks } from '../../tasks/create-tasks.js'
import { createTaskQueue, summary } from '../../tasks/queue.js'
import { createMemoryTaskStore } from '../../tasks/store/memory.js'
import type { TaskStore } from '../../tasks/store/store.js'
import { createTasksWorker } from '../../tasks/worker.js'
import { loadConfig } from '../../shared/load-config.js'
import { workerSettings, checkWorkerConfig } from '../../tasks/settings.js'
import { capturingLogger, silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { admin, startTaskApp, waitForTask } from '../helpers/tasks.js'

function config (upstream: string, extra: string[] = []) {
  return loadConfig(workerSettings, ['--upstream', upstream, '--tasks-backoff', '10ms..20ms', ...extra], {}, checkWorkerConfig).values
}

t.test('in memory: a task added to the queue is delivered and done', async (t) => {
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const tasks = createTasks({ config: config(app.url), log: silentLogger(), registry: new Registry(), nodeId: 'n1' })
  tasks.start()
  tasks.start()
  t.teardown(async () => await tasks.stop(1000))
  const { id } = await tasks.queue.add({ name: 'hello', payload: Buffer.from('raw'), contentType: 'text/plain', scheduledFor: '2026-01-01T00:00:00Z', schedule: 'daily' })
  await waitFor('done', async () => (await tasks.queue.get(id))?.state === 'done' ? true : undefined)
  t.match(app.calls[0], { name: 'hello', body: 'raw', headers: { 'content-type': 'text/plain', 'podside-task-scheduled-for': '2026-01-01T00:00:00Z', 'podside-node': 'n1' } })
})

t.test('a task whose holder stopped renewing is taken over after the lease (time injected)', async (t) => {
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  let now = 1_800_000_000_000
  const registry = new Registry()
  const tasks = createTasks({ config: config(app.url, ['--tasks-lease', '400ms']), log: silentLogger(), registry, nodeId: 'n1', clock: () => now })
  const { id } = await tasks.queue.add({ name: 'orphan' })
  const [ghost] = await tasks.store.take('ghost', 1, 0, now)
  t.equal(ghost.record.id, id)
  tasks.start()
  t.teardown(async () => await tasks.stop(1000))
  now += 399
  now += 1
  await waitFor('taken over', async () => (await tasks.queue.get(id))?.state === 'done' ? true : undefined)
  t.equal(app.calls.length, 1)
  t.match(await registry.metrics(), /podside_tasks_taken_over_total 1/)
})

t.test('a store that fails: taking is retried and logged once per outage; leases lost with a take are recovered', async (t) => {
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const { log, lines } = capturingLogger()
  const inner = createMemoryTaskStore({ retentionMs: 60_000 })
  let failTakes = 1
  let failFinish = 1
  const store: TaskStore = {
    ...inner,
    async take (node, count, blockMs, now) {
      if (failTakes-- > 0) {
        await inner.take(node, count, 0, now) // leased, but the answer is lost
        throw new Error('Command timed out')
      }
      return await inner.take(node, count, blockMs, now)
    },
    async finish (...args) {
      if (failFinish-- > 0) throw new Error('Connection is closed.')
      return await inner.finish(...args)
    }
  }
  const queue = createTaskQueue({ store, clock: Date.now, nodes: async () => ['n1'], defaults: { timeoutMs: 5000, maxAttempts: 3 } })
  const { id } = await queue.add({ name: 'lost' })
  const { createProcessor } = await import('../../tasks/processor.js')
  const { createTaskRunner } = await import('../../tasks/run-task.js')
  const { createDelivery } = await import('../../tasks/deliver.js')
  const { createTasksMetrics } = await import('../../tasks/metrics.js')
  const metrics = createTasksMetrics(new Registry(), store, () => 0, Date.now)
  const delivery = createDelivery({ origin: new URL(app.url), tasksPath: '/t', node: 'n1', connections: 2 })
  const run = createTaskRunner({ store, delivery, metrics, node: 'n1', backoff: { minMs: 10, maxMs: 20 }, clock: Date.now, log })
  const p = createProcessor({ store, node: 'n1', concurrency: 2, leaseMs: 60_000, blockMs: 100, run, metrics, clock: Date.now, log })
  p.start()
  t.teardown(async () => { await p.stop(100); await delivery.close() })
  await waitFor('the first call', () => app.calls.length >= 1 ? true : undefined, 15_000)
  await waitFor('the recovery logged', () => lines.find((l) => l.msg === 'recovered tasks leased by a take whose answer was lost'))
  t.same(lines.filter((l) => String(l.msg).startsWith('cannot take tasks')).length, 1, JSON.stringify(lines.map((l) => l.msg)))
  await waitFor('the finish that failed logged', () => lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('could not record')))
  t.equal((await queue.get(id))?.state, 'running', 'its lease (a minute) will hand it to another node')
})

t.test('the queue: names checked, on: every needs a node, a running copy cannot be cancelled', async (t) => {
  const store = createMemoryTaskStore({ retentionMs: 60_000 })
  let nodes: string[] = []
  const queue = createTaskQueue({ store, clock: Date.now, nodes: async () => nodes, defaults: { timeoutMs: 5000, maxAttempts: 3 } })
  await t.rejects(queue.add({ name: 'a/b' }), { code: 'TASK_ERR_BAD_TASK' })
  await t.rejects(queue.add({ name: 'x', on: 'every' }), { code: 'TASK_ERR_NO_NODES' })
  nodes = ['n1', 'n2']
  const { id } = await queue.add({ name: 'x', on: 'every', delayMs: 0 })
  await store.take('n1', 1, 0, Date.now())
  await t.rejects(queue.cancel(id), { code: 'TASK_ERR_RUNNING' })
  t.match(await queue.get(id), { state: 'running', copies: [{ state: 'running' }, { state: 'queued' }] })
  t.same((await queue.list('queued', 10)).map((r) => r.node), ['n2'])
  t.equal(summary(['done', 'done']), 'done')
  t.equal(summary(['cancelled', 'cancelled']), 'cancelled')
  t.equal(summary(['done', 'cancelled']), 'done')
  t.equal(summary(['dead', 'done']), 'dead')
  t.equal(summary(['delayed', 'dead']), 'delayed')
  t.equal(summary([]), 'done')
})

t.test('podside tasks worker in memory: listens, serves the API, stops', async (t) => {
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const worker = createTasksWorker(config(app.url, ['--admin-listen', '127.0.0.1:0']), { log: silentLogger() })
  const { adminUrl } = await worker.listen()
  const r = await admin(adminUrl, 'POST', '/v1/tasks', { name: 'w' })
  await waitForTask(adminUrl, r.body.id, (x) => x.state === 'done')
  t.match(await admin(adminUrl, 'GET', '/readyz'), { status: 200 })
  const m = await admin(adminUrl, 'GET', '/metrics')
  t.match(m.body, /podside_tasks_queued\{state="done"\} 1/)
  t.match(m.body, /podside_tasks_oldest_queued_age_seconds 0/)
  t.match(m.body, /podside_tasks_running 0/)
  t.match(m.body, /podside_tasks_attempt_duration_seconds_count 1/)
  await worker.close()
})
