import t, { type Test } from 'tap'
import { createRedisClient, closeRedis, waitReady } from '../../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../../shared/redis-url.js'
import { createRedisStore, idOfSessionKey, invalidationChannel } from '../../../gateway/store/redis.js'
import { createCachedStore } from '../../../gateway/store/cached.js'
import { Redis, type Cluster } from 'ioredis'
import { startCluster, startRedis, startSentinel, stopRedis } from '../../helpers/redis.js'
import { waitFor } from '../../helpers/ports.js'
import { newSessionId } from '../../../gateway/session-cookie.js'
import { capturingLogger, silentLogger } from '../../helpers/log.js'
import { contractTimeouts, storeContract } from './contract.js'

async function connect (url: string) {
  const client = createRedisClient(parseRedisUrl(url) as RedisTarget, { role: 'command', timeoutMs: 2000, log: silentLogger() })
  if (!await waitReady(client, 10_000)) throw new Error(`could not connect to ${url}`)
  return client
}

/** The contract suite against the Redis store on a fresh connection to `url` for each test. */
function contractOn (t: Test, url: () => string): void {
  storeContract(t, async () => {
    const client = await connect(url())
    const store = createRedisStore(client, contractTimeouts)
    return { ...store, close: async () => { await store.close(); await closeRedis(client) } }
  })
}

t.test('redis store on a standalone redis-server', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  contractOn(t, () => server.url)
})

t.test('redis store behind the session cache (kept live by a real subscription)', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  storeContract(t, async () => {
    const client = await connect(server.url)
    const { log, lines } = capturingLogger()
    const store = createCachedStore(createRedisStore(client, contractTimeouts), {
      target: parseRedisUrl(server.url) as RedisTarget, maxBytes: 1 << 20, touchEveryMs: contractTimeouts.touchEveryMs, timeoutMs: 2000, log, counts: { hit () {}, miss () {} }
    })
    // Until subscribed, the cache answers nothing: wait, so the contract runs through it.
    await waitFor('the subscription', () => lines.find((l) => l.msg === 'subscribed'))
    return { ...store, close: async () => { await store.close(); await closeRedis(client) } }
  })
})

t.test('every change to a session is announced on the invalidation channel', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const client = await connect(server.url)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisStore(client, contractTimeouts)
  const heard: string[] = []
  const listener = new Redis({ port: server.port, host: '127.0.0.1' })
  t.teardown(() => listener.disconnect())
  listener.on('message', (_channel: string, key: string) => heard.push(idOfSessionKey(key) as string))
  await listener.subscribe(invalidationChannel())
  const [id, newId] = [newSessionId(), newSessionId()]
  const now = 1_800_000_000_000
  const change = { op: 'set' as const, cookie: { name: 'n', value: '1', domain: 'a.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: now, order: 0, sameSite: 'default' as const } }
  await store.apply(id, { changes: [change], create: true }, now)
  await store.load(id, now + 1)
  await store.regenerate(id, newId, now + 2)
  await store.destroy(id)
  await waitFor('the messages', () => heard.length >= 4 ? true : undefined)
  t.same(heard, [id, id, id, newId], 'apply, regenerate (the old id), destroy (the old id, then its successor); a read announces nothing')
})

t.test('redis store on a 3-master Redis Cluster', async (t) => {
  const cluster = await startCluster(3)
  t.teardown(async () => await cluster.close())
  contractOn(t, () => cluster.url)
})

t.test('redis store on a 3-master Redis Cluster behind the session cache, kept live by shard channels', async (t) => {
  const cluster = await startCluster(3)
  t.teardown(async () => await cluster.close())
  storeContract(t, async () => {
    const client = await connect(cluster.url)
    const { log, lines } = capturingLogger()
    const store = createCachedStore(createRedisStore(client, contractTimeouts, { republish: true }), {
      target: parseRedisUrl(cluster.url) as RedisTarget, maxBytes: 1 << 20, touchEveryMs: contractTimeouts.touchEveryMs, timeoutMs: 2000, log,
      counts: { hit () {}, miss () {} }, command: client as Cluster
    })
    await waitFor('the shard subscriptions', () => lines.find((l) => l.msg === 'subscribed'))
    return { ...store, close: async () => { await store.close(); await closeRedis(client) } }
  })
})

t.test('redis store through Sentinel', async (t) => {
  const sentinel = await startSentinel()
  t.teardown(async () => await sentinel.close())
  contractOn(t, () => sentinel.url)
})

t.test('Sentinel failover: writes follow the new master, the session survives', async (t) => {
  const sentinel = await startSentinel()
  t.teardown(async () => await sentinel.close())
  const client = await connect(sentinel.url)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisStore(client, contractTimeouts)
  const id = newSessionId()
  const now = Date.now()
  const cookie = (name: string) => ({ op: 'set' as const, cookie: { name, value: '1', domain: 'a.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: now, order: 0, sameSite: 'default' as const } })
  await store.apply(id, { changes: [cookie('before')], create: true }, now)
  // Let the replica catch up before promoting it, as a planned failover does.
  const replica = new Redis({ port: sentinel.dataPorts[1], host: '127.0.0.1' })
  t.teardown(() => replica.disconnect())
  await waitFor('the replica to hold the session', async () => await replica.exists(`podside:s:{${id}}`) === 1 ? true : undefined)
  const oldMaster = await sentinel.masterPort()
  await sentinel.failover()
  const newMaster = await sentinel.masterPort()
  t.not(newMaster, oldMaster)
  // The client follows the failover by itself (Sentinel's +switch-master), without waiting for the
  // old master to drop it: during a planned failover the old master keeps accepting writes.
  await waitFor('the client to move to the new master', () =>
    (client as Redis).status === 'ready' && (client as unknown as { stream?: { remotePort?: number } }).stream?.remotePort === newMaster ? true : undefined)
  const r = await store.apply(id, { changes: [cookie('after')], create: false }, now + 1)
  t.match(r, { status: 'applied' })
  const direct = new Redis({ port: newMaster, host: '127.0.0.1' })
  t.teardown(() => direct.disconnect())
  const fields = await direct.hkeys(`podside:s:{${id}}`)
  t.ok(fields.includes('c:a.test;/;before'), 'the session written before the failover is on the new master')
  t.ok(fields.includes('c:a.test;/;after'), 'the write after the failover went to the new master')
  t.equal((await direct.call('ROLE') as string[])[0], 'master')
})
