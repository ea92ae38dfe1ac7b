import { spawn } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { closeRedis, createRedisClient, waitReady } from '../shared/redis-client.js'
import { createLogger } from '../shared/logger.js'
import { parseRedisUrl, type RedisTarget } from '../shared/redis-url.js'
import { createTaskQueue } from '../tasks/queue.js'
import { createRedisTaskStore } from '../tasks/store/redis.js'
import { startRedis } from './lib/processes.js'

/**
 * `npm run bench:tasks [-- --tasks 20000] [-- --concurrency 16] [-- --seconds 10]`: one podside
 * tasks worker (a real process) against BullMQ on the same redis-server, in one run.
 *  1. Throughput: N no-op tasks queued first, then the time until the last one ran: podside calls a
 *     node:http app per task (204), BullMQ runs a no-op function. Same concurrency.
 *  2. Redis round trips per task: commands clients sent (MONITOR, leaving out those run inside
 *     scripts), over a separate run of 2,000 tasks (MONITOR slows Redis), adds included; and every
 *     command Redis ran per task (`INFO commandstats`, script internals included).
 *  3. Latency from enqueue to the app's call at 1,000 tasks/s (one add per millisecond) for a few
 *     seconds, p50/p99/max.
 */
const here = dirname(fileURLToPath(import.meta.url))
const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? fallback : process.argv[at + 1]
}
const CLI = resolve(arg('cli', join(here, '..', 'dist', 'cli.js')))
const N = Number(arg('tasks', '20000'))
const CONCURRENCY = Number(arg('concurrency', '16'))
const SECONDS = Number(arg('seconds', '10'))
const RATE = Number(arg('rate', '1000'))

const redisServer = await startRedis()
if (redisServer === undefined) throw new Error('redis-server is not installed')
const raw = new Redis(redisServer.url)
const epochUs = (): number => (performance.timeOrigin + performance.now()) * 1000

// The app: counts calls, and for latency runs records enqueue → call (the payload carries the enqueue time).
let calls = 0
let onCall: () => void = () => {}
const lat: number[] = []
const app = http.createServer((req, res) => {
  let body = ''
  req.on('data', (d) => { body += String(d) })
  req.on('end', () => {
    calls++
    if (body.startsWith('{"t"')) lat.push(epochUs() - (JSON.parse(body) as { t: number }).t)
    res.writeHead(204).end()
    onCall()
  })
})
await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`

async function commandCount (): Promise<number> {
  const info = await raw.info('commandstats')
  let sum = 0
  for (const m of info.matchAll(/calls=(\d+)/g)) sum += Number(m[1])
  return sum
}

/** Client commands (not those a script ran) while `run` runs, per task. */
async function roundTrips (tasks: number, run: () => Promise<void>): Promise<number> {
  const monitor = await raw.monitor()
  let count = 0
  monitor.on('monitor', (_time: string, _args: string[], source: string) => { if (source !== 'lua') count++ })
  await run()
  monitor.disconnect()
  return count / tasks
}

async function until (count: () => number, target: number): Promise<void> {
  if (count() >= target) return
  await new Promise<void>((resolve) => { onCall = () => { if (count() >= target) { onCall = () => {}; resolve() } } })
}

// --- podside
const client = createRedisClient(parseRedisUrl(redisServer.url) as RedisTarget, { role: 'command', timeoutMs: 10_000, log: createLogger({ name: 'bench', level: 'silent' }) })
await waitReady(client, 5000)
const store = createRedisTaskStore({ client, retentionMs: 3_600_000 })
const queue = createTaskQueue({ store, clock: Date.now, nodes: async () => [], defaults: { timeoutMs: 30_000, maxAttempts: 3 } })
const worker = spawn(process.execPath, [CLI, 'tasks', 'worker', '--upstream', appUrl, '--redis', redisServer.url, '--admin-listen', '127.0.0.1:0',
  '--tasks-concurrency', String(CONCURRENCY), '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] })
// Warm-up: the worker is up once a task runs.
await queue.add({ name: 'noop' })
await until(() => calls, 1)

const addAll = async (): Promise<void> => {
  for (let i = 0; i < N; i += 500) await Promise.all(Array.from({ length: Math.min(500, N - i) }, async () => await queue.add({ name: 'noop' })))
}
await raw.config('RESETSTAT')
let start = performance.now()
calls = 0
// Added while the worker runs, as in use; the clock stops at the last call.
await addAll()
await until(() => calls, N)
const podsideSeconds = (performance.now() - start) / 1000
const podsideCommands = (await commandCount()) / N

const RT = 2000
calls = 0
const podsideTrips = await roundTrips(RT, async () => {
  for (let i = 0; i < RT; i += 500) await Promise.all(Array.from({ length: 500 }, async () => await queue.add({ name: 'noop' })))
  await until(() => calls, RT)
})

// Latency at 1,000/s.
calls = 0
const total = RATE * SECONDS
const t0 = performance.now()
for (let i = 0; i < total; i++) {
  const due = t0 + i * (1000 / RATE)
  const wait = due - performance.now()
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
  void queue.add({ name: 'noop', payload: JSON.stringify({ t: epochUs() }) })
}
await until(() => calls, total)
lat.sort((a, b) => a - b)
const pct = (p: number): string => (lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] / 1000).toFixed(2)
worker.kill('SIGTERM')
await new Promise((resolve) => worker.once('exit', resolve))
await closeRedis(client)

// --- BullMQ: the same no-op jobs, a function call each.
await raw.flushall()
const connection = { host: '127.0.0.1', port: Number(new URL(redisServer.url).port), maxRetriesPerRequest: null }
const bq = new Queue('bench', { connection })
let done = 0
const bw = new Worker('bench', async () => {}, { connection, concurrency: CONCURRENCY })
bw.on('completed', () => { done++; onCall() })
await bq.add('noop', {})
await until(() => done, 1)
done = 0
await raw.config('RESETSTAT')
start = performance.now()
for (let i = 0; i < N; i += 500) await bq.addBulk(Array.from({ length: Math.min(500, N - i) }, () => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })))
await until(() => done, N)
const bullSeconds = (performance.now() - start) / 1000
const bullCommands = (await commandCount()) / N
done = 0
const bullTrips = await roundTrips(RT, async () => {
  for (let i = 0; i < RT; i += 500) await bq.addBulk(Array.from({ length: 500 }, () => ({ name: 'noop', data: {}, opts: { removeOnComplete: true } })))
  await until(() => done, RT)
})
await bw.close()
await bq.close()

const podsideRate = N / podsideSeconds
const bullRate = N / bullSeconds
console.log(JSON.stringify({
  tasks: N,
  concurrency: CONCURRENCY,
  podside: { tasksPerSecond: Math.round(podsideRate), roundTripsPerTask: Number(podsideTrips.toFixed(2)), commandsRunPerTask: Number(podsideCommands.toFixed(2)) },
  bullmq: { jobsPerSecond: Math.round(bullRate), roundTripsPerJob: Number(bullTrips.toFixed(2)), commandsRunPerJob: Number(bullCommands.toFixed(2)) },
  ratio: Number((podsideRate / bullRate).toFixed(2)),
  [`latencyAt${RATE}PerSecondMs`]: { p50: pct(0.5), p99: pct(0.99), max: pct(1) }
}, null, 2))
raw.disconnect()
app.close()
await redisServer.stop()
