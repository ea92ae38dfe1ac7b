import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from 'undici'
import { countInstructions, hasValgrind, type Counted, type Phase } from './lib/callgrind.js'
import { freePort, startRedis, startServer } from './lib/processes.js'
import { pad, writeResults } from './lib/report.js'

/**
 * `npm run bench:instructions [-- --only <server>] [-- --before path/to/dist/cli.js]`: instructions per request of podside and its
 * Node peers, counted by callgrind, one request at a time. CPU time per request (`npm run bench`) is what the
 * targets are set in, but it swings ±20% between runs on a shared machine; this count repeats to
 * 0.1–3% between like runs (the same servers counted side by side: timers follow the wall clock,
 * which valgrind stretches; the gateway's code settles late), so it shows what a change to
 * podside's own code gave. It leaves out the kernel (the
 * same socket calls for every proxy) and so says nothing about nginx, which is not measured here.
 */
const here = dirname(fileURLToPath(import.meta.url))
const CLI = join(here, '..', 'dist', 'cli.js')
const PEERS = join(here, 'servers', 'peers.ts')
/** V8 still tiers code up for thousands of requests in single-threaded mode (docs/performance.md). */
const WARM = 5000
const REQUESTS = 1000
/** `--only <text>`: the servers whose name contains it (e.g. `--only gateway`). */
const onlyAt = process.argv.indexOf('--only')
const only = onlyAt === -1 ? undefined : process.argv[onlyAt + 1]
/** Servers counted at once: valgrind runs each on one core. */
const PARALLEL = 2

if (!hasValgrind) {
  process.stderr.write('bench:instructions needs valgrind (apt-get install valgrind)\n')
  process.exit(2)
}

interface Job { name: string, podside: boolean, args: (port: number) => string[], phases: (origin: string) => Promise<Phase[]>, stdout?: 'drain' }
/** `--before path/to/dist/cli.js`: another build, counted at its defaults beside this one. */
const beforeAt = process.argv.indexOf('--before')
const BEFORE_CLI = beforeAt === -1 ? undefined : process.argv[beforeAt + 1]

/**
 * podside at its defaults (access log at info, stdout a drained pipe), at `--log-level warn`,
 * and, with --before, the other build at its defaults: the access log's cost is the first minus
 * the second.
 */
function podsideJobs (name: string, args: (cli: string, port: number) => string[], phases: Job['phases']): Job[] {
  return [
    { name, podside: true, phases, args: (port) => args(CLI, port), stdout: 'drain' },
    { name: `${name} (--log-level warn)`, podside: true, phases, args: (port) => [...args(CLI, port), '--log-level', 'warn'] },
    ...BEFORE_CLI === undefined ? [] : [{ name: `${name} (before)`, podside: true, phases, args: (port: number) => args(BEFORE_CLI, port), stdout: 'drain' as const }]
  ]
}
interface Row { scenario: string, server: string, podside: boolean, counted: Counted }

const cleanups: Array<() => Promise<void>> = []
const clients: Client[] = []

/** One keep-alive connection; each call sends one GET and reads the whole answer. */
function sender (origin: string, path: string, headers: Record<string, string> = {}, status = 200): () => Promise<void> {
  // Under valgrind a request takes milliseconds, a cold start far longer.
  const client = new Client(origin, { headersTimeout: 120_000, bodyTimeout: 120_000 })
  clients.push(client)
  return async () => {
    const r = await client.request({ method: 'GET', path, headers })
    await r.body.dump()
    if (r.statusCode !== status) throw new Error(`${origin}${path}: ${r.statusCode}, expected ${status}`)
  }
}

async function headOf (origin: string, path: string, name: string, headers: Record<string, string> = {}): Promise<string> {
  const client = new Client(origin, { headersTimeout: 120_000 })
  try {
    const r = await client.request({ method: 'GET', path, headers })
    await r.body.dump()
    return String([r.headers[name]].flat()[0])
  } finally { await client.close() }
}

async function jobs (): Promise<{ files: Job[], proxies: Job[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-bench-files-'))
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, '10k.bin'), Buffer.alloc(10 * 1024, 'a'))
  const filePhases = async (origin: string): Promise<Phase[]> => {
    const etag = await headOf(origin, '/10k.bin', 'etag')
    return [{ label: 'file 10 KiB, warm', send: sender(origin, '/10k.bin') },
      { label: '304 (If-None-Match), 10 KiB', send: sender(origin, '/10k.bin', { 'if-none-match': etag }, 304) }]
  }
  const peer = (kind: string, arg: string) => (port: number) => ['--import', 'tsx', PEERS, kind, String(port), arg]
  const files: Job[] = [
    { name: 'bare node:http (memory)', podside: false, args: peer('bare', dir), phases: filePhases },
    { name: 'sirv', podside: false, args: peer('sirv', dir), phases: filePhases },
    { name: '@fastify/static', podside: false, args: peer('fastify-static', dir), phases: filePhases },
    ...podsideJobs('podside fileproxy', (cli, port) => [cli, 'fileproxy', '--root', dir, '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0'], filePhases)
  ]

  const upPort = await freePort()
  const upstream = await startServer('upstream', process.execPath, ['--import', 'tsx', PEERS, 'upstream', String(upPort)], upPort)
  cleanups.push(upstream.stop)
  const app = `http://127.0.0.1:${upPort}`
  // Without redis-server the gateway runs on its in-memory store, as `npm run bench` does.
  const redis = await startRedis()
  if (redis !== undefined) cleanups.push(redis.stop)
  const storeName = redis === undefined ? 'memory' : 'Redis'
  // Under valgrind the first requests run 50× slower than normal: one run failed during its
  // warm-up, most likely a Redis wait past the default 1 s timeout (a 503).
  const store = redis === undefined ? [] : ['--redis', redis.url, '--secret', 'b'.repeat(32), '--redis-timeout', '60s']
  const proxied = (origin: string): Phase[] => [{ label: 'proxy 1 KiB', send: sender(origin, '/') }]
  const proxies: Job[] = [
    { name: 'http-proxy', podside: false, args: peer('http-proxy', app), phases: async (o) => proxied(o) },
    { name: 'undici pass-through', podside: false, args: peer('undici-proxy', app), phases: async (o) => proxied(o) },
    ...podsideJobs('podside gateway', (cli, port) => [cli, 'gateway', '--upstream', app, '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0', ...store],
      async (origin) => {
        const cookie = (await headOf(origin, '/set3', 'set-cookie')).split(';')[0]
        return [{ label: `proxy 1 KiB|session (3-cookie jar, ${storeName})`, send: sender(origin, '/', { cookie }) },
          { label: 'proxy 1 KiB|no session', send: sender(origin, '/') }]
      })
  ]
  return { files, proxies }
}

async function run (job: Job): Promise<Row[]> {
  const port = await freePort()
  const counts = await countInstructions({ name: job.name, args: job.args(port), port, warm: WARM, requests: REQUESTS, stdout: job.stdout,
    phases: async () => await job.phases(`http://127.0.0.1:${port}`) })
  return [...counts].map(([label, counted]) => {
    const [scenario, variant] = label.split('|')
    const row = { scenario, server: variant === undefined ? job.name : `${job.name}, ${variant}`, podside: job.podside, counted }
    process.stderr.write(`  ${row.scenario} / ${row.server}: ${Math.round(counted.work)} instructions per request\n`)
    return row
  })
}

/** Runs the jobs PARALLEL at a time (the counts do not depend on it; the wall time does). */
async function runAll (list: Job[]): Promise<Row[]> {
  const rows: Row[] = []
  const queue = [...list]
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) rows.push(...await run(job))
  }))
  return rows
}

function table (rows: Row[]): string {
  const k = (n: number): string => `${(n / 1000).toFixed(1)}k`
  const lines = [[pad('scenario', 30), pad('server', 50), pad('instr/req', 10), pad('with JIT+GC', 12), 'this ÷ podside'].join(' ')]
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const group = rows.filter((r) => r.scenario === scenario).sort((a, b) => a.server.localeCompare(b.server))
    const ours = group.filter((r) => r.podside)
    for (const r of group) {
      const ratio = r.podside ? '' : ours.map((o) => `${(r.counted.work / o.counted.work).toFixed(2)}×`).join(' / ')
      lines.push([pad(scenario, 30), pad(r.server, 50), pad(k(r.counted.work), 10), pad(k(r.counted.total), 12), ratio].join(' '))
    }
  }
  return lines.join('\n')
}

const rows: Row[] = []
try {
  process.stderr.write(`podside bench:instructions: ${WARM} requests to warm up, ${REQUESTS} counted, per server and scenario, under callgrind\n`)
  const { files, proxies } = await jobs()
  rows.push(...await runAll([...proxies, ...files].filter((j) => only === undefined || j.name.includes(only))))
} finally {
  for (const c of clients) await c.close().catch(() => {})
  for (const c of cleanups.reverse()) await c().catch(() => {})
}
process.stdout.write('\n' + table(rows) + '\n')
process.stdout.write('\nInstructions per request in user space, one request at a time, without V8 compiling and GC ("with JIT+GC": all of them).\n' +
  'Ratios: this ÷ podside (higher is better for podside).\n')
const file = writeResults('-instructions', { warm: WARM, requests: REQUESTS, rows })
process.stdout.write(`Results written to ${file}\n`)
