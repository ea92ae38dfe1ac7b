import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { cacheStore } from '../../../gateway/store/cached.js'
import { channelInvalidations } from '../../../gateway/store/invalidations.js'
import { createRedisStore } from '../../../gateway/store/redis.js'
import { createSessionCache } from '../../../gateway/store/session-cache.js'
import type { SessionStore } from '../../../gateway/store/store.js'
import { newSessionId } from '../../../gateway/session-cookie.js'
import { closeRedis, createRedisClient, waitReady } from '../../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../../shared/redis-url.js'
import type { JarChange } from '../../../gateway/jar.js'
import { capturingLogger, silentLogger } from '../../helpers/log.js'
import { waitFor } from '../../helpers/ports.js'
import { startRedis, stopRedis } from '../../helpers/redis.js'
import { contractTimeouts } from './contract.js'

/**
 * A hot session's reload is one Redis read: requests that miss the cache join the read under way,
 * unless an invalidation came after it started. Counted by Redis itself (INFO commandstats).
 */
const server = await startRedis()
t.teardown(async () => await stopRedis(server))
const target = parseRedisUrl(server.url) as RedisTarget
const T0 = Date.now()
const set = (value: string): JarChange => ({
  op: 'set', cookie: { name: 'step', value, domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default' }
})

async function scriptCalls (probe: Redis): Promise<number> {
  const stats = await probe.info('commandstats')
  let n = 0
  for (const m of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1])
  return n
}

/** A gateway's cached store over a real connection and subscription; `gate` holds reads after Redis answered. */
async function gateway (t: Test, gate?: () => Promise<void>) {
  const client = createRedisClient(target, { role: 'command', timeoutMs: 2000, log: silentLogger() })
  await waitReady(client, 10_000)
  const raw = createRedisStore(client, contractTimeouts)
  const inner: SessionStore = gate === undefined ? raw : { ...raw, load: async (id, now) => { const s = await raw.load(id, now); await gate(); return s } }
  const cache = createSessionCache({ maxBytes: 1 << 20, touchEveryMs: contractTimeouts.touchEveryMs })
  const { log, lines } = capturingLogger()
  const invalidations = channelInvalidations(cache, { target, timeoutMs: 2000, log })
  await waitFor('the subscription', () => lines.find((l) => l.msg === 'subscribed'))
  const store = cacheStore(inner, cache, { hit () {}, miss () {}, announced: invalidations.announced })
  t.teardown(async () => { await invalidations.close(); await closeRedis(client) })
  return { store, cache }
}

t.test('50 concurrent requests for one uncached session make one Redis read', async (t) => {
  const { store } = await gateway(t)
  const other = await gateway(t)
  const probe = server.client()
  const id = newSessionId()
  await other.store.apply(id, { changes: [set('1')], create: true }, T0)
  const before = await scriptCalls(probe)
  const sessions = await Promise.all(Array.from({ length: 50 }, async () => await store.load(id, T0 + 1)))
  const after = await scriptCalls(probe)
  t.equal(after - before, 1, 'one read')
  t.ok(sessions.every((s) => s?.cookies[0].value === '1'), 'all 50 got the session')
})

t.test('a request arriving after an invalidation does not join a read started before it', async (t) => {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  const { store, cache } = await gateway(t, async () => await opened)
  const other = await gateway(t)
  const probe = server.client()
  const id = newSessionId()
  await other.store.apply(id, { changes: [set('1')], create: true }, T0)
  const before = await scriptCalls(probe)
  const early = Array.from({ length: 10 }, async () => await store.load(id, T0 + 1))
  await waitFor('the first read to reach Redis', async () => await scriptCalls(probe) - before >= 1 ? true : undefined)
  const ticket = cache.ticket()
  await other.store.apply(id, { changes: [set('2')], create: false }, T0 + 2)
  await waitFor('the invalidation to arrive', () => cache.ticket() !== ticket ? true : undefined)
  const late = Array.from({ length: 10 }, async () => await store.load(id, T0 + 3))
  await waitFor('the second read to reach Redis', async () => await scriptCalls(probe) - before >= 3 ? true : undefined)
  open()
  const [e, l] = [await Promise.all(early), await Promise.all(late)]
  t.equal(await scriptCalls(probe) - before, 3, 'two reads and the write')
  t.ok(e.every((s) => s?.cookies[0].value === '1'), 'the early requests got what Redis held when they came')
  t.ok(l.every((s) => s?.cookies[0].value === '2'), 'the late requests got the write')
  t.equal((await store.load(id, T0 + 4))?.cookies[0].value, '2', 'and the stale read was not kept')
})
