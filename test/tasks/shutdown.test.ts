import t from 'tap'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { admin, startTaskApp, startWorker, waitForTask } from '../helpers/tasks.js'

/**
 * SIGTERM: calls still open get --shutdown-timeout to end; what is left is handed back to the
 * queue at once, so another node runs it long before the lease (15 s, the default) would run out.
 */
t.test('a stopping node finishes short calls and hands the long ones back at once', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  let first = ''
  const app = await startTaskApp((call) => {
    if (call.name === 'long' && call.node === first) return { hold: new Promise<void>(() => {}) } // never answers
    if (call.name === 'short') return { delayMs: 200 }
    return {}
  })
  t.teardown(async () => await app.close())
  const args = ['--upstream', app.url, '--redis', redis.url, '--shutdown-timeout', '1s']
  const a = await startWorker(args)
  first = a.node
  t.teardown(async () => await a.stop())
  const long = (await admin(a.adminUrl, 'POST', '/v1/tasks', { name: 'long' })).body.id
  await waitForTask(a.adminUrl, long, (x) => x.state === 'running')
  const short = (await admin(a.adminUrl, 'POST', '/v1/tasks', { name: 'short' })).body.id
  await waitForTask(a.adminUrl, short, (x) => x.state === 'running')
  const b = await startWorker(args)
  t.teardown(async () => await b.stop())
  t.equal(await a.stop('SIGTERM'), 0)
  const task = await waitForTask(b.adminUrl, long, (x) => x.state === 'done', 10_000)
  t.match(task.attempts, [{ node: a.node, outcome: 'handed-back' }, { n: 1, node: b.node, outcome: 'done' }])
  t.match(await waitForTask(b.adminUrl, short, (x) => x.state === 'done'), { attempts: [{ node: a.node, outcome: 'done' }] }, 'the short call finished on the stopping node')
})
