import t, { type Test } from 'tap'
import http from 'node:http'
import { Registry } from 'prom-client'
import { request } from 'undici'
import { createAdminServer } from '../../shared/admin-server.js'
import { closeRedis, createRedisClient, waitReady } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { sessionRoutes } from '../../gateway/admin-routes.js'
import { createGatewayMetrics } from '../../gateway/metrics.js'
import { newSessionId } from '../../gateway/session-cookie.js'
import { instrumentStore } from '../../gateway/store/instrumented.js'
import { createMemoryStore } from '../../gateway/store/memory.js'
import { createRedisStore } from '../../gateway/store/redis.js'
import type { SessionStore } from '../../gateway/store/store.js'
import type { JarCookie } from '../../gateway/jar.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { serve } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * The gateway's session API (gateway/admin-routes.ts) behind a real admin listener on a free port,
 * over a real memory store (and the Redis store behind a cut relay for the 503).
 */
const T0 = 1_800_000_000_000
const timeouts = { idleMs: 60_000, absoluteMs: 3_600_000, graceMs: 10_000, maxCookies: 200, touchEveryMs: 1_000 }

async function admin (t: Test, store: SessionStore = createMemoryStore(timeouts)) {
  t.teardown(async () => await store.close())
  const srv = await serve(createAdminServer({ log: silentLogger(), registry: new Registry(), ready: async () => {}, routes: sessionRoutes(store, () => T0 + 1000) }))
  t.teardown(async () => await srv.close())
  const call = async (method: string, path: string) => {
    const res = await request(srv.url + path, { method: method as 'GET' })
    const text = await res.body.text()
    return { status: res.statusCode, headers: res.headers, text, json: text === '' ? undefined : JSON.parse(text) }
  }
  return { store, call }
}

const jarCookie = (name: string, value: string, extra: Partial<JarCookie> = {}): JarCookie => ({
  name, value, domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default', ...extra
})

async function session (store: SessionStore, user?: string, cookies: JarCookie[] = [jarCookie('sid', 'secret-value-1')]): Promise<string> {
  const id = newSessionId()
  await store.apply(id, { changes: cookies.map((cookie) => ({ op: 'set' as const, cookie })), create: true, user }, T0)
  return id
}

t.test('GET /v1/sessions/<id>: 200 with times in ISO 8601 and cookie names, never their values', async (t) => {
  const { store, call } = await admin(t)
  const id = await session(store, 'alice', [
    jarCookie('sid', 'secret-value-1', { secure: true }),
    jarCookie('remember', 'secret-value-2', { expires: T0 + 600_000, path: '/app', domain: 'example.test', hostOnly: false, httpOnly: false, order: 1 })
  ])
  const r = await call('GET', `/v1/sessions/${id}`)
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'application/json')
  t.equal(r.headers['cache-control'], 'no-store')
  t.same(r.json, {
    id,
    user: 'alice',
    created: new Date(T0).toISOString(),
    lastSeen: new Date(T0).toISOString(),
    absoluteExpiry: new Date(T0 + 3_600_000).toISOString(),
    cookies: [
      { name: 'sid', domain: 'app.test', path: '/', expires: null, secure: true, httpOnly: true },
      { name: 'remember', domain: 'example.test', path: '/app', expires: new Date(T0 + 600_000).toISOString(), secure: false, httpOnly: false }
    ]
  })
  t.notMatch(r.text, /secret-value/)
  t.equal((await call('GET', `/v1/sessions/${await session(store)}`)).json.user, null, 'no user: null')
})

t.test('GET /v1/sessions/<id>: 404 GW_ERR_NOT_FOUND for an unknown id, a malformed one, and one replaced by a regenerate', async (t) => {
  const { store, call } = await admin(t)
  const old = await session(store)
  await store.regenerate(old, newSessionId(), T0 + 1)
  for (const id of [newSessionId(), 'not-an-id', 'x'.repeat(33), old]) {
    const r = await call('GET', `/v1/sessions/${id}`)
    t.equal(r.status, 404, id)
    t.same(r.json, { error: { code: 'GW_ERR_NOT_FOUND', message: 'no such session' } }, id)
  }
})

t.test('DELETE /v1/sessions/<id>: 204 and the session is gone; 204 again for an unknown id (idempotent)', async (t) => {
  const { store, call } = await admin(t)
  const id = await session(store, 'bob')
  const r = await call('DELETE', `/v1/sessions/${id}`)
  t.same([r.status, r.text], [204, ''])
  t.equal(await store.inspect(id, T0 + 1000), undefined)
  t.same(await store.userSessions('bob', T0 + 1000), [], 'and out of its user\'s index')
  t.equal((await call('DELETE', `/v1/sessions/${id}`)).status, 204)
  t.equal((await call('DELETE', '/v1/sessions/not-an-id')).status, 204)
})

t.test('DELETE of an id replaced by a regenerate ends its successor too', async (t) => {
  const { store, call } = await admin(t)
  const old = await session(store)
  const successor = newSessionId()
  await store.regenerate(old, successor, T0 + 1)
  t.equal((await call('DELETE', `/v1/sessions/${old}`)).status, 204)
  t.equal(await store.inspect(successor, T0 + 1000), undefined)
})

t.test('/v1/users/<user>/sessions: GET lists the ids, DELETE ends them all; the name is percent-decoded', async (t) => {
  const { store, call } = await admin(t)
  const ids = [await session(store, 'ann smith'), await session(store, 'ann smith')]
  const other = await session(store, 'carl')
  const list = await call('GET', '/v1/users/ann%20smith/sessions')
  t.equal(list.status, 200)
  t.same([...list.json.sessions].sort(), [...ids].sort())
  t.same((await call('GET', '/v1/users/nobody/sessions')).json, { sessions: [] })
  t.equal((await call('DELETE', '/v1/users/ann%20smith/sessions')).status, 204)
  for (const id of ids) t.equal(await store.inspect(id, T0 + 1000), undefined)
  t.ok(await store.inspect(other, T0 + 1000), 'another user\'s session stays')
})

t.test('400 GW_ERR_BAD_REQUEST for a path segment that does not percent-decode, and the connection closes', async (t) => {
  const { call } = await admin(t)
  for (const [method, path] of [['GET', '/v1/sessions/%E0%A4%A'], ['DELETE', '/v1/sessions/%zz'], ['GET', '/v1/users/%E0/sessions'], ['DELETE', '/v1/users/%/sessions']]) {
    const r = await call(method, path)
    t.equal(r.status, 400, `${method} ${path}`)
    t.same(r.json, { error: { code: 'GW_ERR_BAD_REQUEST', message: 'malformed percent-encoding in the path' } })
    t.equal(r.headers.connection, 'close')
  }
})

t.test('405 GW_ERR_METHOD_NOT_ALLOWED with Allow: GET, DELETE for any other method', async (t) => {
  const { store, call } = await admin(t)
  const id = await session(store)
  for (const [method, path] of [['POST', `/v1/sessions/${id}`], ['PUT', `/v1/sessions/${id}`], ['PATCH', '/v1/users/u/sessions'], ['POST', '/v1/users/u/sessions']]) {
    const r = await call(method, path)
    t.equal(r.status, 405, `${method} ${path}`)
    t.equal(r.headers.allow, 'GET, DELETE')
    t.equal(r.json.error.code, 'GW_ERR_METHOD_NOT_ALLOWED')
  }
  t.ok(await store.inspect(id, T0 + 1000), 'nothing was changed')
})

t.test('paths that are not the session API fall through to the admin listener\'s 404', async (t) => {
  const { call } = await admin(t)
  for (const path of ['/v1/sessions/', '/v1/sessions/a/b', '/v1/users//sessions', '/v1/users/u/sessions/x', '/v2/sessions/x']) {
    const r = await call('GET', path)
    t.equal(r.status, 404, path)
    t.equal(r.json.error.code, 'ADMIN_ERR_NOT_FOUND', path)
  }
})

t.test('Redis unreachable: 503 GW_ERR_STORE_UNAVAILABLE with Retry-After: 1, for every route', async (t) => {
  const redis = await startRedis()
  const relay = await startTcpProxy(redis.port)
  const client = createRedisClient(parseRedisUrl(`redis://127.0.0.1:${relay.port}`) as RedisTarget, { role: 'command', timeoutMs: 500, log: silentLogger() })
  t.teardown(async () => { await closeRedis(client); await relay.close(); await stopRedis(redis) })
  t.ok(await waitReady(client, 10_000))
  const { call } = await admin(t, instrumentStore(createRedisStore(client, timeouts), createGatewayMetrics()))
  relay.cut()
  await waitFor('the connection to notice the cut', () => client.status !== 'ready' ? true : undefined)
  for (const [method, path] of [['GET', `/v1/sessions/${newSessionId()}`], ['DELETE', `/v1/sessions/${newSessionId()}`], ['GET', '/v1/users/u/sessions'], ['DELETE', '/v1/users/u/sessions']]) {
    const r = await call(method, path)
    t.equal(r.status, 503, `${method} ${path}`)
    t.equal(r.headers['retry-after'], '1')
    t.equal(r.json.error.code, 'GW_ERR_STORE_UNAVAILABLE')
  }
})

t.test('the route answers false for paths it does not own, so other routes may take them', async (t) => {
  const route = sessionRoutes(createMemoryStore(timeouts), () => T0)
  const res = new http.ServerResponse({ method: 'GET' } as http.IncomingMessage)
  t.equal(await route({ method: 'GET' } as http.IncomingMessage, res, new URL('http://admin/healthz')), false)
  t.equal(res.headersSent, false)
})
