import { spawn } from 'node:child_process'
import { Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { closeRedis, createRedisClient, waitReady, type RedisClient } from '../../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../../shared/redis-url.js'
import { createRedisScheduleStore } from '../../../tasks/schedules/schedule-store-redis.js'
import { scheduleKeys } from '../../../tasks/schedules/schedule-keys.js'
import { tickWindow } from '../../../tasks/schedules/ticks.js'
import { createScheduleMetrics } from '../../../tasks/schedules/metrics.js'
import { createScheduler } from '../../../tasks/schedules/scheduler.js'
import { recordingQueue } from './fake-queue.js'
import { silentLogger } from '../../helpers/log.js'
import { startCluster, startRedis, stopRedis } from '../../helpers/redis.js'
import { every, MINUTE, storeContract, T0 } from './store-contract.js'

async function connect (url: string): Promise<RedisClient> {
  const client = createRedisClient(parseRedisUrl(url) as RedisTarget, { role: 'command', timeoutMs: 2000, log: silentLogger() })
  if (!await waitReady(client, 10_000)) throw new Error(`could not connect to ${url}`)
  return client
}

async function redisNow (client: RedisClient): Promise<number> {
  const [s, us] = await client.time()
  return Number(s) * 1000 + Math.floor(Number(us) / 1000)
}

/** The contract on a fresh connection and a fresh key prefix per test; the clock moved by the skew. */
function contractOn (t: Test, url: () => string): void {
  let n = 0
  storeContract(t, async () => {
    const client = await connect(url())
    let skew = 0
    const store = createRedisScheduleStore(client, { keys: scheduleKeys(`test:${process.pid}:${n++}:{q}:`), skewMs: () => skew })
    return {
      store,
      at: async (ms) => { skew = ms - await redisNow(client) },
      close: async () => await closeRedis(client)
    }
  })
}

t.test('redis schedule store on a standalone redis-server', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  contractOn(t, () => server.url)
})

t.test('redis schedule store on a Redis Cluster (every key under the queue\'s hash tag)', async (t) => {
  const cluster = await startCluster()
  t.teardown(async () => await cluster.close())
  contractOn(t, () => cluster.url)
})

t.test('12 connections claiming the same due tick at once: exactly one wins, every round', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const keys = scheduleKeys('race:{q}:')
  const clients = await Promise.all(Array.from({ length: 12 }, async () => await connect(server.url)))
  t.teardown(async () => { await Promise.all(clients.map(closeRedis)) })
  let skew = T0 - await redisNow(clients[0])
  const stores = clients.map((c) => createRedisScheduleStore(c, { keys, skewMs: () => skew }))
  await stores[0].put(every('a'))
  await stores[0].claim('a', tickWindow(every('a'), T0), { recoverMs: 5000 })
  for (let round = 1; round <= 20; round++) {
    skew += MINUTE
    const window = tickWindow(every('a'), T0 + round * MINUTE)
    const claims = await Promise.all(stores.map(async (s) => await s.claim('a', window, { recoverMs: 5000 })))
    t.same(claims.filter((c) => c.kind === 'claimed').map((c) => (c as { tick: number }).tick), [window.due], `round ${round}: one winner`)
    t.equal(claims.filter((c) => c.kind === 'idle').length, 11, `round ${round}: every other claimer is told the tick is taken`)
  }
})

/** A claimer process: for each round, waits on a list the test fills for all at once, claims, prints. */
const CHILD = `
const { Redis } = await import('ioredis')
const [port, key, rounds, t0, minute, script] = [process.env.PORT, process.env.KEY, +process.env.ROUNDS, +process.env.T0, +process.env.MINUTE, process.env.SCRIPT]
const r = new Redis({ port, host: '127.0.0.1' })
const [s, us] = await r.time()
const skew0 = t0 - (Number(s) * 1000 + Math.floor(Number(us) / 1000)) + Number(process.env.DRIFT)
const out = []
for (let round = 1; round <= rounds; round++) {
  await r.blpop('go:' + round, 10)
  const now = t0 + round * minute
  const due = Math.floor(now / minute) * minute
  const reply = await r.eval(script, 1, key, due, due + minute, 5000, skew0 + round * minute)
  out.push(reply[0])
}
process.stdout.write(JSON.stringify(out))
r.disconnect()
`

t.test('4 processes claiming each tick at once: exactly one claim per tick, by any of them', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const keys = scheduleKeys('procs:{q}:')
  const client = await connect(server.url)
  t.teardown(async () => await closeRedis(client))
  const skew = T0 - await redisNow(client)
  const store = createRedisScheduleStore(client, { keys, skewMs: () => skew })
  await store.put(every('a'))
  await store.claim('a', tickWindow(every('a'), T0), { recoverMs: 5000 })
  const rounds = 25
  const { CLAIM } = await import('../../../tasks/schedules/schedule-scripts.js')
  const children = Array.from({ length: 4 }, () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      cwd: process.cwd(),
      env: { ...process.env, PORT: String(server.port), KEY: keys.schedule('a'), ROUNDS: String(rounds), T0: String(T0), MINUTE: String(MINUTE), SCRIPT: CLAIM, DRIFT: '0' },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let out = ''
    child.stdout.on('data', (d) => { out += String(d) })
    return new Promise<string[]>((resolve, reject) => child.once('exit', (code) => code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`claimer exited ${code}`))))
  })
  for (let round = 1; round <= rounds; round++) {
    // Released together: each process pops one of the four.
    await client.rpush('go:' + round, 1, 2, 3, 4)
  }
  const results = await Promise.all(children)
  for (let round = 0; round < rounds; round++) {
    const kinds = results.map((r) => r[round])
    t.equal(kinds.filter((k) => k === 'claimed').length, 1, `tick ${round + 1}: ${kinds.join(',')}`)
  }
})

t.test('catch-up on Redis, two nodes, the clock moved ten intervals ahead: latest runs once, none runs nothing', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  for (const catchUp of ['latest', 'none'] as const) {
    const clients = [await connect(server.url), await connect(server.url)]
    t.teardown(async () => { await Promise.all(clients.map(closeRedis)) })
    const keys = scheduleKeys(`catchup-${catchUp}:{q}:`)
    let skew = T0 - await redisNow(clients[0])
    // Each node's own clock follows the store's, as a node's clock roughly does Redis'.
    const localNow = (): number => Date.now() + skew
    const q = recordingQueue()
    const nodes = clients.map((c) => createScheduler({
      store: createRedisScheduleStore(c, { keys, skewMs: () => skew }), queue: q.queue, log: silentLogger(), metrics: createScheduleMetrics(new Registry()), now: localNow
    }))
    await createRedisScheduleStore(clients[0], { keys }).put(every('c', { catchUp, overlap: 'allow' }))
    for (const n of nodes) await n.poll() // baseline
    skew += 30_050 // just after the next tick
    for (const n of nodes) await n.poll()
    t.equal(q.added.length, 1, `${catchUp}: the on-time tick ran`)
    skew += 10 * MINUTE + 20_000 // every node down for ten intervals, back 20 s after the tenth tick
    for (let i = 0; i < 3; i++) for (const n of nodes) await n.poll()
    const late = q.added.slice(1)
    if (catchUp === 'latest') {
      t.equal(late.length, 1, 'latest: exactly one catch-up run')
      t.equal(late[0].scheduledFor, new Date(T0 + 30_000 + 10 * MINUTE).toISOString(), 'the newest missed tick')
    } else {
      t.equal(late.length, 0, 'none: zero runs for the missed ticks')
    }
  }
})

t.test('a definition this version cannot read (newer, or damaged) is left out of the list, not fatal', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const client = await connect(server.url)
  t.teardown(async () => await closeRedis(client))
  const keys = scheduleKeys('odd:{q}:')
  const store = createRedisScheduleStore(client, { keys })
  await store.put(every('good'))
  await client.sadd(keys.names, 'newer', 'damaged')
  await client.hset(keys.schedule('newer'), 'def', JSON.stringify({ every: '1m', jitter: '5s', task: { name: 'w' } }))
  await client.hset(keys.schedule('damaged'), 'def', '{not json')
  t.same((await store.list()).map((s) => s.schedule.name), ['good'])
  t.equal(await store.get('damaged'), undefined)
})
