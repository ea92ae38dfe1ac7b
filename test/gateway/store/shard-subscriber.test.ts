import t, { type Test } from 'tap'
import net from 'node:net'
import { Redis, type Cluster } from 'ioredis'
import { cacheStore } from '../../../gateway/store/cached.js'
import { clusterCacheParts, slotRanges } from '../../../gateway/store/invalidations.js'
import { createRedisStore, idOfSessionKey } from '../../../gateway/store/redis.js'
import { createSessionCache } from '../../../gateway/store/session-cache.js'
import { connectShard } from '../../../gateway/store/shard-connection.js'
import { createShardSubscriber, type SlotRange } from '../../../gateway/store/shard-subscriber.js'
import { BUCKET_STRIDE, bucketChannels, bucketOfId, keySlot } from '../../../gateway/store/slots.js'
import { newSessionId } from '../../../gateway/session-cookie.js'
import type { JarChange } from '../../../gateway/jar.js'
import { closeRedis, createRedisClient, waitReady } from '../../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../../shared/redis-url.js'
import { capturingLogger, silentLogger } from '../../helpers/log.js'
import { waitFor } from '../../helpers/ports.js'
import { startCluster } from '../../helpers/redis.js'
import { contractTimeouts } from './contract.js'

/**
 * The shard subscriptions under a real 3-master Cluster: a gateway whose subscription of a bucket
 * is lost (its master's connection drops, or the bucket's slot moves away) stops answering that
 * bucket's sessions from its cache until subscribed again, and misses no write meanwhile.
 */
const cluster = await startCluster(3)
t.teardown(async () => await cluster.close())
const target = parseRedisUrl(cluster.url) as RedisTarget
const T0 = Date.now()
const set = (value: string): JarChange => ({
  op: 'set', cookie: { name: 'step', value, domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default' }
})

async function client (t: Test): Promise<Cluster> {
  const c = createRedisClient(target, { role: 'command', timeoutMs: 2000, log: silentLogger() }) as Cluster
  await waitReady(c, 10_000)
  t.teardown(async () => await closeRedis(c))
  return c
}

/**
 * A gateway's cached store on the cluster, with its shard subscriber made here so the test can hold
 * its topology look-ups (`hold`): a lost bucket then stays lost until `release`.
 */
async function gateway (t: Test) {
  const command = await client(t)
  const cache = createSessionCache({ maxBytes: 1 << 20, touchEveryMs: contractTimeouts.touchEveryMs, parts: clusterCacheParts })
  cache.setLive(true)
  let held: Promise<void> | undefined
  let release = (): void => {}
  const { log, lines } = capturingLogger()
  const losses: number[] = []
  const subscriber = createShardSubscriber({
    channels: bucketChannels(),
    slotOf: (b) => b * BUCKET_STRIDE,
    async topology (): Promise<SlotRange[]> {
      await held
      return slotRanges(await command.cluster('SLOTS') as unknown[][])
    },
    connect: async (c) => await connectShard({ ...c, timeoutMs: 2000 }),
    log,
    onMessage (key) { const id = idOfSessionKey(key); if (id !== undefined) cache.drop(id) },
    onSubscribed: (b) => cache.setPartLive(b, true),
    onLost: (b) => { losses.push(b); cache.setPartLive(b, false) },
    retryMs: () => 20
  })
  t.teardown(async () => await subscriber.close())
  await waitFor('the shard subscriptions', () => lines.find((l) => l.msg === 'subscribed'))
  const counts = { hit: 0, miss: 0 }
  const store = cacheStore(createRedisStore(command, contractTimeouts, { republish: true }), cache, {
    hit: () => { counts.hit++ }, miss: () => { counts.miss++ }, announced: async (ids) => await subscriber.sync(ids.map(bucketOfId))
  })
  return {
    store, subscriber, counts, lines, losses, cache,
    hold () { held = new Promise((resolve) => { release = resolve }) },
    release () { held = undefined; release() }
  }
}

const value = async (store: { load: (id: string, now: number) => Promise<{ cookies: Array<{ value: string }> } | undefined> }, id: string, now: number): Promise<string | undefined> =>
  (await store.load(id, now))?.cookies[0].value

/**
 * Reads until one is answered from the cache. The first read after another node's write may be
 * refused a place when that write's message arrives while it is in flight (the ticket).
 */
async function cachedOn (gw: { store: { load: (id: string, now: number) => Promise<unknown> }, counts: { hit: number } }, id: string, now: number): Promise<void> {
  await waitFor('the session to be cached', async () => {
    const hits = gw.counts.hit
    await gw.store.load(id, now)
    return gw.counts.hit > hits ? true : undefined
  })
}

/**
 * `write` through another gateway, then wait until this one has heard of it (its cache's ticket
 * moved), as the browser's round trip would: both gateways share this process's event loop here.
 */
async function heard (gw: { cache: { ticket: () => number } }, write: () => Promise<unknown>): Promise<void> {
  const ticket = gw.cache.ticket()
  await write()
  await waitFor('the invalidation to arrive', () => gw.cache.ticket() !== ticket ? true : undefined)
}

t.test('a master\'s subscriber connection drops: its buckets are read from Redis until subscribed again', async (t) => {
  const gw = await gateway(t)
  const other = await gateway(t)
  const id = newSessionId()
  const bucket = bucketOfId(id)
  await other.store.apply(id, { changes: [set('1')], create: true }, T0)
  await cachedOn(gw, id, T0 + 1)

  gw.hold()
  const master = new Redis({ port: await cluster.ownerOf(bucket * BUCKET_STRIDE), host: '127.0.0.1' })
  t.teardown(() => master.disconnect())
  await master.client('KILL', 'TYPE', 'pubsub')
  await waitFor('the bucket to be lost', () => gw.subscriber.live(bucket) ? undefined : true)
  t.ok(gw.lines.some((l) => l.msg === 'session invalidations lost: the session cache is off until they are back'))
  await other.store.apply(id, { changes: [set('2')], create: false }, T0 + 3)
  const misses = gw.counts.miss
  t.equal(await value(gw.store, id, T0 + 4), '2', 'the write made while the subscription was lost is seen')
  t.equal(await value(gw.store, id, T0 + 5), '2')
  t.equal(gw.counts.miss, misses + 2, 'not cached while lost')

  gw.release()
  await waitFor('the bucket to be subscribed again', () => gw.subscriber.live(bucket) ? true : undefined)
  await cachedOn(gw, id, T0 + 6)
  t.pass('cached again')
  await heard(gw, async () => await other.store.apply(id, { changes: [set('3')], create: false }, T0 + 8))
  t.equal(await value(gw.store, id, T0 + 9), '3', 'and invalidated again')
})

t.test('a bucket\'s slot moves to another master: the old master ends the subscription, the gateway follows it', async (t) => {
  const gw = await gateway(t)
  const other = await gateway(t)
  const id = newSessionId()
  const bucket = bucketOfId(id)
  const slot = keySlot(`podside:s:{${id}}`)
  await other.store.apply(id, { changes: [set('1')], create: true }, T0)
  await cachedOn(gw, id, T0 + 1)
  const from = await cluster.ownerOf(slot)
  const to = (await cluster.masters()).find((p) => p !== from) as number
  gw.hold()
  await cluster.moveSlot(slot, to, async () => {
    // Keys moved, slot not yet: the write runs on the target, where nobody listens; announced again.
    await heard(gw, async () => await other.store.apply(id, { changes: [set('2')], create: false }, T0 + 2))
    t.equal(await value(gw.store, id, T0 + 3), '2', 'the write during the migration is seen')
  })
  await waitFor('the old master to end the subscription', () => gw.losses.includes(bucket) ? true : undefined)
  t.notOk(gw.subscriber.live(bucket))
  await other.store.apply(id, { changes: [set('3')], create: false }, T0 + 4)
  t.equal(await value(gw.store, id, T0 + 5), '3', 'a write on the new master while unsubscribed is seen')
  gw.release()
  await waitFor('the bucket to be subscribed on the new master', () => gw.subscriber.live(bucket) ? true : undefined)
  await cachedOn(gw, id, T0 + 6)
  await heard(gw, async () => await other.store.apply(id, { changes: [set('4')], create: false }, T0 + 7))
  t.equal(await value(gw.store, id, T0 + 8), '4', 'invalidated through the new master')
})

t.test('an id from before buckets (any slot) is served, never cached', async (t) => {
  const gw = await gateway(t)
  let id = newSessionId()
  while (bucketOfId(id) !== -1) id = id.slice(1) + 'x'
  await gw.store.apply(id, { changes: [set('1')], create: true }, T0)
  const hits = gw.counts.hit
  t.equal(await value(gw.store, id, T0 + 1), '1')
  t.equal(await value(gw.store, id, T0 + 2), '1')
  t.equal(gw.counts.hit, hits, 'never from the cache')
})

t.test('a closed subscriber stops subscribing', async (t) => {
  const command = await client(t)
  const { log } = capturingLogger()
  let connects = 0
  const subscriber = createShardSubscriber({
    channels: bucketChannels().slice(0, 4),
    slotOf: (b) => b * BUCKET_STRIDE,
    topology: async () => slotRanges(await command.cluster('SLOTS') as unknown[][]),
    connect: async (c) => { connects++; return await connectShard({ ...c, timeoutMs: 2000 }) },
    log, onMessage () {}, onSubscribed () {}, onLost () {}
  })
  await subscriber.close()
  await subscriber.sync('all')
  t.equal(subscriber.live(0), false)
  t.ok(connects <= 1)
})

t.test('a Redis without sharded pub/sub (before 7.0): the cache stays off, said once, not asked again', async (t) => {
  // A server that knows CLIENT but not SSUBSCRIBE, as Redis 6 answers.
  let asked = 0
  const old = net.createServer((socket) => {
    socket.on('data', (d) => {
      for (const m of String(d).matchAll(/\r\n(CLIENT|SSUBSCRIBE)\r\n/g)) {
        if (m[1] === 'SSUBSCRIBE') asked++
        socket.write(m[1] === 'CLIENT' ? '+OK\r\n' : '-ERR unknown command \'SSUBSCRIBE\', with args beginning with: \r\n')
      }
    })
  })
  await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve))
  t.teardown(() => old.close())
  const { port } = old.address() as net.AddressInfo
  const { log, lines } = capturingLogger()
  let rounds = 0
  const subscriber = createShardSubscriber({
    channels: bucketChannels().slice(0, 8),
    slotOf: (b) => b * BUCKET_STRIDE,
    topology: async () => { rounds++; return [{ start: 0, end: 16383, host: '127.0.0.1', port }] },
    connect: async (c) => await connectShard({ ...c, timeoutMs: 2000 }),
    log, onMessage () {}, onSubscribed () {}, onLost () {}, retryMs: () => 1
  })
  t.teardown(async () => await subscriber.close())
  const warning = 'the session cache stays off: this Redis Cluster has no sharded pub/sub (SSUBSCRIBE needs Redis 7.0 or later)'
  await waitFor('the warning', () => lines.find((l) => l.msg === warning))
  t.equal(asked, 8)
  t.equal(rounds, 1, 'not asked again')
  t.equal(subscriber.live(0), false)
})

t.test('a failing CLUSTER SLOTS and a stale slot map (MOVED) are tried again until every bucket is subscribed', async (t) => {
  const command = await client(t)
  const { log, lines } = capturingLogger()
  let calls = 0
  const subscriber = createShardSubscriber({
    channels: bucketChannels(),
    slotOf: (b) => b * BUCKET_STRIDE,
    async topology () {
      calls++
      if (calls === 1) throw new Error('CLUSTERDOWN')
      const real = slotRanges(await command.cluster('SLOTS') as unknown[][])
      // Second look: every slot said to be on the first master, as a map from before a resharding.
      return calls === 2 ? [{ ...real[0], start: 0, end: 16383 }] : real
    },
    connect: async (c) => await connectShard({ ...c, timeoutMs: 2000 }),
    log, onMessage () {}, onSubscribed () {}, onLost () {}, retryMs: () => 5
  })
  t.teardown(async () => await subscriber.close())
  await waitFor('every bucket subscribed', () => lines.find((l) => l.msg === 'subscribed'))
  t.ok(lines.some((l) => l.msg === 'shard channels: subscribing failed; retrying'))
  t.ok(calls >= 3)
  t.ok(bucketChannels().every((_, b) => subscriber.live(b)))
})
