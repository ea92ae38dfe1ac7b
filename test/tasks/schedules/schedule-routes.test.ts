import { Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { createAdminServer } from '../../../shared/admin-server.js'
import { closeRedis, createRedisClient } from '../../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../../shared/redis-url.js'
import { createSchedules } from '../../../tasks/schedules/create-schedules.js'
import { parseSchedule, type Schedule } from '../../../tasks/schedules/schedule.js'
import { silentLogger } from '../../helpers/log.js'
import { serve } from '../../helpers/processes.js'
import { startRedis, stopRedis } from '../../helpers/redis.js'
import { waitFor } from '../../helpers/ports.js'
import { recordingQueue } from './fake-queue.js'

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000) + 15_000

/** The schedule routes on a real admin listener over HTTP, schedules in memory on an injected clock. */
async function admin (t: Test, opts: { redis?: ReturnType<typeof createRedisClient>, schedules?: Schedule[] } = {}) {
  const q = recordingQueue()
  const registry = new Registry()
  const schedules = createSchedules({ queue: q.queue, redis: opts.redis, settings: { schedules: opts.schedules }, logger: silentLogger(), metrics: registry, now: () => T0, nodeId: 'n1' })
  const server = await serve(createAdminServer({ log: silentLogger(), registry, ready: async () => {}, routes: schedules.routes }))
  t.teardown(async () => { await schedules.stop(); await server.close() })
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await request(server.url + path, { method: method as 'GET', body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
  }
  return { call, q, schedules, registry }
}

t.test('PUT creates, the same PUT again changes nothing (200), a change is an update; GET lists with next tick', async (t) => {
  const { call } = await admin(t)
  const def = { every: '1m', task: { name: 'count-uploads', payload: { dir: '/u' } } }
  const created = await call('PUT', '/v1/schedules/count', def)
  t.equal(created.status, 201)
  t.same(created.body, { name: 'count', change: 'created', definition: { every: '1m', on: 'one', overlap: 'skip', catchUp: 'latest', task: { name: 'count-uploads', payload: { dir: '/u' } } } })
  t.match(await call('PUT', '/v1/schedules/count', def), { status: 200, body: { change: 'unchanged' } })
  t.match(await call('PUT', '/v1/schedules/count', { ...def, on: 'every' }), { status: 200, body: { change: 'updated' } })
  const list = await call('GET', '/v1/schedules')
  t.equal(list.status, 200)
  t.same(list.body.schedules, [{
    name: 'count',
    definition: { every: '1m', on: 'every', overlap: 'skip', catchUp: 'latest', task: { name: 'count-uploads', payload: { dir: '/u' } } },
    nextTick: new Date(T0 + 45_000).toISOString(),
    lastRun: null
  }])
  t.match(await call('GET', '/v1/schedules/count'), { status: 200, body: { name: 'count', nextTick: new Date(T0 + 45_000).toISOString() } })
})

t.test('a bad schedule is one 400 naming every bad field; nothing is stored', async (t) => {
  const { call } = await admin(t)
  const res = await call('PUT', '/v1/schedules/x', { every: 'soon', on: 'all', task: { timeout: 'never' } })
  t.equal(res.status, 400)
  t.equal(res.body.error.code, 'SCHED_ERR_BAD_REQUEST')
  for (const field of ['schedule.every', 'schedule.on', 'schedule.task.name', 'schedule.task.timeout']) t.match(res.body.error.message, field)
  t.match(await call('PUT', '/v1/schedules/x', '{not json'), { status: 400, body: { error: { message: 'the body is not JSON' } } })
  t.match(await call('PUT', '/v1/schedules/bad%20name', { every: '1m', task: { name: 'w' } }), { status: 400, body: { error: { message: /bad name/ } } })
  t.match(await call('PUT', '/v1/schedules/%E0%A4%A', { every: '1m', task: { name: 'w' } }), { status: 400, body: { error: { message: /percent-encoding/ } } })
  t.same((await call('GET', '/v1/schedules')).body, { schedules: [] })
})

t.test('an oversized body is 413', async (t) => {
  const { call } = await admin(t)
  const res = await call('PUT', '/v1/schedules/x', { every: '1m', task: { name: 'w', payload: 'x'.repeat(1_100_000) } })
  t.equal(res.status, 413)
  t.equal(res.body.error.code, 'SCHED_ERR_TOO_LARGE')
})

t.test('DELETE is idempotent (204 twice); GET and trigger of an unknown schedule are 404', async (t) => {
  const { call } = await admin(t)
  await call('PUT', '/v1/schedules/a', { every: '1m', task: { name: 'w' } })
  t.equal((await call('DELETE', '/v1/schedules/a')).status, 204)
  t.equal((await call('DELETE', '/v1/schedules/a')).status, 204)
  t.match(await call('GET', '/v1/schedules/a'), { status: 404, body: { error: { code: 'SCHED_ERR_NOT_FOUND' } } })
  t.match(await call('POST', '/v1/schedules/a/trigger'), { status: 404, body: { error: { code: 'SCHED_ERR_NOT_FOUND' } } })
})

t.test('trigger enqueues now (201); the list then shows that run with its task\'s state', async (t) => {
  const { call, q } = await admin(t)
  await call('PUT', '/v1/schedules/a', { every: '1h', task: { name: 'w' } })
  const res = await call('POST', '/v1/schedules/a/trigger')
  t.same(res, { status: 201, headers: res.headers, body: { id: 'task-1', state: 'queued' } })
  q.setState('task-1', 'done')
  const [view] = (await call('GET', '/v1/schedules')).body.schedules
  t.same(view.lastRun, { tick: new Date(T0).toISOString(), at: new Date(T0).toISOString(), result: 'triggered', taskId: 'task-1', taskState: 'done' })
})

t.test('a wrong method is 405 with Allow', async (t) => {
  const { call } = await admin(t)
  t.match(await call('POST', '/v1/schedules'), { status: 405, headers: { allow: 'GET' } })
  t.match(await call('GET', '/v1/schedules/a/trigger'), { status: 405, headers: { allow: 'POST' } })
  t.match(await call('POST', '/v1/schedules/a'), { status: 405, headers: { allow: 'GET, PUT, DELETE' }, body: { error: { code: 'SCHED_ERR_METHOD_NOT_ALLOWED' } } })
  t.match(await call('GET', '/v1/schedulesx'), { status: 404, body: { error: { code: 'ADMIN_ERR_NOT_FOUND' } } }, 'not ours')
})

t.test('schedules from --schedules are put at start, and the loop runs them', async (t) => {
  const s = parseSchedule('filed', { every: '1m', task: { name: 'w' } }) as Schedule
  const { call, schedules } = await admin(t, { schedules: [s] })
  schedules.start()
  await waitFor('the file\'s schedule to be stored', async () => (await call('GET', '/v1/schedules')).body.schedules.length === 1 ? true : undefined)
  t.equal((await call('GET', '/v1/schedules')).body.schedules[0].name, 'filed')
})

t.test('with Redis away: 503 with Retry-After and nothing half-written; the file\'s schedules are put once it is back', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const client = createRedisClient(parseRedisUrl(server.url) as RedisTarget, { role: 'command', timeoutMs: 300, log: silentLogger() })
  t.teardown(async () => await closeRedis(client))
  await waitFor('redis', async () => client.status === 'ready' ? true : undefined)
  await server.stop()
  const s = parseSchedule('filed', { every: '1m', task: { name: 'w' } }) as Schedule
  const { call, schedules } = await admin(t, { redis: client, schedules: [s] })
  schedules.start()
  for (const [method, path, body] of [['GET', '/v1/schedules'], ['PUT', '/v1/schedules/a', { every: '1m', task: { name: 'w' } }], ['DELETE', '/v1/schedules/a'], ['POST', '/v1/schedules/a/trigger']] as const) {
    const res = await call(method, path, body)
    t.equal(res.status, 503, `${method} ${path}`)
    t.equal(res.headers['retry-after'], '1')
    t.equal(res.body.error.code, 'SCHED_ERR_UNAVAILABLE')
  }
  await server.start()
  await waitFor('the file\'s schedule to reach Redis once it is back', async () => {
    const res = await call('GET', '/v1/schedules')
    return res.status === 200 && res.body.schedules.length === 1 ? true : undefined
  }, 15_000)
  t.pass('stored')
})

t.test('a last run whose task cannot be read shows its outcome as unknown (null), the list still answers', async (t) => {
  const { call, q } = await admin(t)
  await call('PUT', '/v1/schedules/a', { every: '1h', task: { name: 'w' } })
  await call('POST', '/v1/schedules/a/trigger')
  q.queue.get = async () => { throw new Error('redis away') }
  const [view] = (await call('GET', '/v1/schedules')).body.schedules
  t.match(view.lastRun, { result: 'triggered', taskState: null })
})
