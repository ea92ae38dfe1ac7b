import t from 'tap'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { admin, startTaskApp, startWorker, waitForTask } from '../helpers/tasks.js'

const LEASE_MS = 1000

/** Issue 16, "Long tasks": calls of 3 × the lease keep their lease (renewed while open) and run once. */
t.test('tasks three times longer than the lease run once each, never taken over', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await startTaskApp(() => ({ delayMs: 3 * LEASE_MS }))
  t.teardown(async () => await app.close())
  const args = ['--upstream', app.url, '--redis', redis.url, '--tasks-lease', `${LEASE_MS}ms`, '--tasks-concurrency', '4']
  const workers = [await startWorker(args), await startWorker(args)]
  t.teardown(async () => { for (const w of workers) await w.stop() })
  const ids: string[] = []
  for (let i = 0; i < 6; i++) ids.push((await admin(workers[0].adminUrl, 'POST', '/v1/tasks', { name: 'long' })).body.id)
  for (const id of ids) {
    const task = await waitForTask(workers[0].adminUrl, id, (x) => x.state === 'done', 30_000)
    t.equal(task.attempts.length, 1, `${id}: one attempt`)
  }
  for (const id of ids) t.equal(app.calls.filter((c) => c.id === id).length, 1, `${id} called once`)
  for (const w of workers) {
    t.match((await admin(w.adminUrl, 'GET', '/metrics')).body, /podside_tasks_taken_over_total 0\n/)
  }
})
