import t from 'tap'
import { request } from 'undici'
import { loadConfig } from '../../shared/load-config.js'
import { checkWorkerConfig, workerSettings } from '../../tasks/settings.js'
import { createTasksWorker } from '../../tasks/worker.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { admin, startTaskApp, waitForTask } from '../helpers/tasks.js'

/** The task API of a worker run in this process (on Redis, in the fleet), route by route. */
t.test('task API routes', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await startTaskApp((call, calls) => {
    if (call.name === 'fail') return { status: calls.filter((c) => c.id === call.id).length < 2 ? 500 : 404 }
    return { status: 200 }
  })
  t.teardown(async () => await app.close())
  process.env.PODSIDE_FLEET_HEARTBEAT = '200ms'
  const config = loadConfig(workerSettings, ['--upstream', app.url, '--redis', redis.url, '--admin-listen', '127.0.0.1:0', '--tasks-backoff', '10ms..20ms', '--tasks-max-attempts', '2'], {}, checkWorkerConfig).values
  const worker = createTasksWorker(config, { log: silentLogger() })
  const { adminUrl: base } = await worker.listen()
  delete process.env.PODSIDE_FLEET_HEARTBEAT
  t.teardown(async () => await worker.close())

  t.test('a retry, then dead on the last attempt', async (t) => {
    const r = await admin(base, 'POST', '/v1/tasks', { name: 'fail', maxAttempts: 3 })
    const task = await waitForTask(base, r.body.id, (x) => x.state === 'dead')
    t.same(task.attempts.map((a: any) => [a.status, a.outcome]), [[500, 'retry'], [404, 'dead']])
    const r2 = await admin(base, 'POST', '/v1/tasks', { name: 'fail', maxAttempts: 1 })
    t.match(await waitForTask(base, r2.body.id, (x) => x.state === 'dead'), { attempts: [{ status: 500, outcome: 'dead', error: /last of 1 attempts/ }] })
  })

  t.test('list, retry, cancel, and what each refuses', async (t) => {
    const dead = await admin(base, 'GET', '/v1/tasks?state=dead&limit=1')
    t.equal(dead.body.tasks.length, 1)
    t.match(await admin(base, 'GET', '/v1/tasks'), { status: 200, body: { tasks: [{ state: 'dead' }, { state: 'dead' }] } })
    const later = await admin(base, 'POST', '/v1/tasks', { name: 'later', at: new Date(Date.now() + 3_600_000).toISOString() })
    t.match(await admin(base, 'GET', '/v1/tasks?state=delayed'), { body: { tasks: [{ id: later.body.id, dueAt: /Z$/ }] } })
    t.match(await admin(base, 'POST', `/v1/tasks/${later.body.id}/retry`), { status: 409, body: { error: { code: 'TASK_ERR_NOT_RETRYABLE' } } })
    t.match(await admin(base, 'GET', `/v1/tasks/${later.body.id}/retry`), { status: 405, headers: { allow: 'POST' } })
    t.match(await admin(base, 'PATCH', `/v1/tasks/${later.body.id}`), { status: 405, headers: { allow: 'GET, DELETE' } })
    t.match(await admin(base, 'DELETE', `/v1/tasks/${later.body.id}`), { status: 200, body: { state: 'cancelled', finishedAt: /Z$/ } })
    t.match(await admin(base, 'DELETE', `/v1/tasks/${later.body.id}`), { status: 200, body: { state: 'cancelled' } }, 'cancelling twice is harmless')
    t.match(await admin(base, 'POST', `/v1/tasks/${'f'.repeat(32)}/retry`), { status: 404 })
    t.match(await admin(base, 'DELETE', `/v1/tasks/${'f'.repeat(32)}`), { status: 404 })
    const big = await request(new URL('/v1/tasks', base), { method: 'POST', headers: { 'content-length': String(5 * 1024 * 1024) }, body: 'x'.repeat(10) }).catch((err: Error) => err)
    if (!(big instanceof Error)) { t.equal(big.statusCode, 413); await big.body.dump() }
  })

  t.test('on: every reaches this node through the fleet', async (t) => {
    await waitFor('the node in the fleet', async () => (await admin(base, 'GET', '/v1/nodes')).body.live === 1 ? true : undefined)
    const r = await admin(base, 'POST', '/v1/tasks', { name: 'all', on: 'every' })
    t.equal(r.status, 201)
    t.match(await waitForTask(base, r.body.id, (x) => x.state === 'done'), { copies: [{ state: 'done' }] })
  })
})
