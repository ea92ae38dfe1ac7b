import t, { type Test } from 'tap'
import { Counter, Registry } from 'prom-client'
import { createRedisClient, closeRedis, type RedisClient } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { FLEET_KEY, fleetDefaults, nodeKey } from '../../shared/fleet/fleet-keys.js'
import { liveFigures } from '../../shared/fleet/live-figures.js'
import { noFigures } from '../../shared/fleet/node-record.js'
import { readFleet } from '../../shared/fleet/read-fleet.js'
import { createFleetRegistry, newNodeId, type FleetRegistryOptions } from '../../shared/fleet/registry.js'
import { capturingLogger, silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startCluster, startRedis, stopRedis } from '../helpers/redis.js'

/**
 * The fleet registry in-process against a real redis-server, with an injected clock: the 15 s and
 * 1 min rules are checked by moving the clock, never by waiting.
 */
const redis = await startRedis()
t.teardown(async () => await stopRedis(redis))
const target = parseRedisUrl(redis.url) as RedisTarget
const raw = redis.client()

async function commandClient (t: Test, at: RedisTarget = target): Promise<RedisClient> {
  const client = createRedisClient(at, { role: 'command', timeoutMs: 1000, log: silentLogger() })
  t.teardown(async () => await closeRedis(client))
  await waitFor('the registry connection', () => client.status === 'ready' ? true : undefined)
  return client
}

function node (t: Test, client: RedisClient, extra: Partial<FleetRegistryOptions> = {}) {
  let now = 1_000_000
  // An hour between timed heartbeats: each test beats by hand.
  const registry = createFleetRegistry({ client, role: 'gateway', log: silentLogger(), clock: () => now, intervalMs: 3_600_000, ...extra })
  t.teardown(async () => await registry.stop())
  return { registry, advance: (ms: number) => { now += ms }, now: () => now }
}

t.beforeEach(async () => { await raw.flushall() })

t.test('registry: a heartbeat writes the node\'s hash (with a TTL) and its score in one sorted set', async (t) => {
  const client = await commandClient(t)
  const { registry, now } = node(t, client)
  registry.start({ url: 'http://10.0.0.5:8080', adminUrl: 'http://127.0.0.1:9901' })
  t.equal(await registry.beat(), true)
  t.equal(Number(await raw.zscore(FLEET_KEY, registry.id)), now(), 'score: the node\'s clock at the heartbeat')
  const hash = await raw.hgetall(nodeKey(registry.id))
  t.match(hash, { id: registry.id, role: 'gateway', url: 'http://10.0.0.5:8080', adminUrl: 'http://127.0.0.1:9901', pid: String(process.pid), startedAt: String(now()) })
  t.match(hash.version, /^\d+\.\d+\.\d+/)
  const ttl = await raw.pttl(nodeKey(registry.id))
  t.ok(ttl > 0 && ttl <= fleetDefaults.nodeTtlMs, 'the hash ages out by itself')
  const view = await registry.read()
  t.same(view.nodes.map((n) => [n.id, n.role, n.state]), [[registry.id, 'gateway', 'live']])
  t.same([view.live, view.missing], [1, 0])
})

t.test('registry: the keys share one Cluster slot (hash tag)', async (t) => {
  t.equal(FLEET_KEY, '{podside:fleet}')
  t.ok(nodeKey('abc').startsWith(FLEET_KEY))
})

t.test('registry: ids are random per start', async (t) => {
  const client = await commandClient(t)
  t.not(node(t, client).registry.id, node(t, client).registry.id)
})

t.test('registry: a node silent for over 15 s is missing; over a minute, it is removed by any reader', async (t) => {
  const client = await commandClient(t)
  const { registry, advance, now } = node(t, client)
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  await registry.beat()
  advance(fleetDefaults.goneAfterMs)
  t.equal((await registry.read()).nodes[0].state, 'live', 'exactly 15 s: still live')
  advance(1)
  const view = await readFleet(client, now())
  t.same([view.nodes[0].state, view.nodes[0].heartbeatAgeMs, view.live, view.missing], ['missing', fleetDefaults.goneAfterMs + 1, 0, 1])
  advance(fleetDefaults.forgetAfterMs - fleetDefaults.goneAfterMs - 1)
  t.equal((await readFleet(client, now())).nodes.length, 1, 'exactly a minute: still listed')
  advance(1)
  t.same((await readFleet(client, now())).nodes, [], 'over a minute: gone from the list')
  t.equal(await raw.zcard(FLEET_KEY), 0, 'and from the sorted set')
})

t.test('registry: a node judges others by their own gone-after time', async (t) => {
  const client = await commandClient(t)
  const { registry, advance, now } = node(t, client, { goneAfterMs: 600 })
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  await registry.beat()
  advance(601)
  t.equal((await readFleet(client, now())).nodes[0].state, 'missing')
})

t.test('registry: a heartbeat removes nodes silent for over a minute', async (t) => {
  const client = await commandClient(t)
  let now = 5_000_000
  const clock = (): number => now
  const a = createFleetRegistry({ client, role: 'fileproxy', log: silentLogger(), clock, intervalMs: 3_600_000 })
  const b = createFleetRegistry({ client, role: 'gateway', log: silentLogger(), clock, intervalMs: 3_600_000 })
  t.teardown(async () => { await a.stop(); await b.stop() })
  a.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  await a.beat()
  now += fleetDefaults.forgetAfterMs + 1
  b.start({ url: 'http://b', adminUrl: 'http://b-admin' })
  await b.beat()
  t.same(await raw.zrange(FLEET_KEY, 0, -1), [b.id])
})

t.test('registry: stop removes the node at once (a clean shutdown is not missing)', async (t) => {
  const client = await commandClient(t)
  const { registry } = node(t, client)
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  await registry.beat()
  await registry.stop()
  t.equal(await raw.zcard(FLEET_KEY), 0)
  t.equal(await raw.exists(nodeKey(registry.id)), 0)
  t.equal(await registry.beat(), false, 'no heartbeat after stop')
  t.equal(await raw.zcard(FLEET_KEY), 0)
})

t.test('registry: the figures are written with each heartbeat; failing figures leave them empty', async (t) => {
  const client = await commandClient(t)
  let fail = false
  const { log, lines } = capturingLogger('warn')
  const { registry } = node(t, client, {
    log,
    figures: () => {
      if (fail) throw new Error('boom')
      return { ...noFigures, requestsPerSecond: 12.5, cacheBytes: 2048, cacheHitRatio: 0.75 }
    }
  })
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  await registry.beat()
  t.match((await registry.read()).nodes[0], { requestsPerSecond: 12.5, cacheBytes: 2048, cacheHitRatio: 0.75, sessionsCached: null, lastPurgeId: null, tasksRunning: null })
  fail = true
  t.equal(await registry.beat(), true, 'the heartbeat still goes out')
  t.match((await registry.read()).nodes[0], { requestsPerSecond: null, cacheBytes: null })
  t.ok(lines.some((l) => l.msg === 'fleet figures failed; heartbeat sent without them'))
})

t.test('registry: heartbeats start by themselves, repeat every interval, and never pile up', async (t) => {
  const client = await commandClient(t)
  const registry = createFleetRegistry({ client, role: 'gateway', log: silentLogger(), intervalMs: 20 })
  t.teardown(async () => await registry.stop())
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  const first = await waitFor('a first heartbeat', async () => await raw.zscore(FLEET_KEY, registry.id) ?? undefined)
  await waitFor('a later heartbeat', async () => await raw.zscore(FLEET_KEY, registry.id) !== first ? true : undefined)
})

t.test('registry: while Redis is down a heartbeat fails without throwing, logged once per outage', async (t) => {
  const { log, lines } = capturingLogger('info')
  const client = await commandClient(t)
  const { registry } = node(t, client, { log })
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  t.equal(await registry.beat(), true)
  await redis.stop()
  t.equal(await registry.beat(), false)
  t.equal(await registry.beat(), false)
  t.equal(lines.filter((l) => l.msg?.toString().startsWith('fleet heartbeat failed')).length, 1)
  await redis.start()
  await waitFor('a heartbeat after Redis is back', async () => await registry.beat() ? true : undefined)
  t.equal(lines.filter((l) => l.msg === 'fleet heartbeat restored').length, 1)
  t.equal(await raw.zcard(FLEET_KEY), 1)
})

t.test('live figures: requests/s and hit ratio over the last interval, from the daemon\'s own counters', async (t) => {
  const registry = new Registry()
  const requests = new Counter({ name: 'x_requests_total', help: 'h', labelNames: ['status'], registers: [registry] })
  const hits = new Counter({ name: 'x_hits_total', help: 'h', registers: [registry] })
  const misses = new Counter({ name: 'x_misses_total', help: 'h', registers: [registry] })
  let now = 10_000
  let purge: string | undefined
  const figures = liveFigures({ registry, requests: 'x_requests_total', hits: 'x_hits_total', misses: 'x_misses_total', cacheBytes: () => 4096, lastPurgeId: () => purge, clock: () => now })
  requests.inc({ status: '200' }, 6)
  requests.inc({ status: '404' }, 4)
  hits.inc(3)
  misses.inc(1)
  now += 2000
  t.match(await figures(now), { requestsPerSecond: 5, cacheHitRatio: 0.75, cacheBytes: 4096, sessionsCached: null })
  now += 1000
  t.match(await figures(now), { requestsPerSecond: 0, cacheHitRatio: null, lastPurgeId: null }, 'no lookups in this interval: no ratio; no purge yet')
  purge = 'deploy-7'
  t.match(await figures(now), { lastPurgeId: 'deploy-7' }, 'the file proxy\'s last purge id applied')
  const gateway = liveFigures({ registry, requests: 'x_requests_total', sessionsCached: () => 7, clock: () => now })
  t.match(await gateway(now + 1000), { requestsPerSecond: 10, cacheHitRatio: null, cacheBytes: null, sessionsCached: 7, lastPurgeId: null })
})

t.test('registry: under Redis Cluster, heartbeats and reads stay in one slot', async (t) => {
  const cluster = await startCluster()
  t.teardown(async () => await cluster.close())
  const at = parseRedisUrl(cluster.url) as RedisTarget
  const client = await commandClient(t, at)
  const a = createFleetRegistry({ client, role: 'gateway', log: silentLogger(), intervalMs: 3_600_000 })
  const b = createFleetRegistry({ client, role: 'fileproxy', log: silentLogger(), intervalMs: 3_600_000 })
  t.teardown(async () => { await a.stop(); await b.stop() })
  a.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  b.start({ url: 'http://b', adminUrl: 'http://b-admin' })
  t.equal(await a.beat(), true)
  t.equal(await b.beat(), true)
  const view = await a.read()
  t.same(view.nodes.map((n) => n.role).sort(), ['fileproxy', 'gateway'])
  await b.stop()
  t.same((await a.read()).nodes.map((n) => n.id), [a.id])
})

t.test('registry: a node id given by the daemon (known before it joins, for its purge acknowledgements) is the one registered', async (t) => {
  const client = await commandClient(t)
  const registry = createFleetRegistry({ client, role: 'fileproxy', log: silentLogger(), id: 'given-id-123' })
  t.teardown(async () => await registry.stop())
  t.equal(registry.id, 'given-id-123')
  registry.start({ url: 'http://a', adminUrl: 'http://a-admin' })
  await registry.beat()
  t.same((await registry.read()).nodes.map((n) => n.id), ['given-id-123'])
  t.match(newNodeId(), /^[0-9a-f]{12}$/)
})
