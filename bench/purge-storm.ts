import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort, startRedis, waitForPort } from './lib/processes.js'
import { purgeStorm } from './lib/storm.js'

/**
 * `npm run bench:purge-storm [-- --runs 3] [-- --cli path/to/dist/cli.js]`: a real redis-server and
 * a fileproxy at its defaults (access log on, stdout read through a pipe as a container runtime
 * would), 1,000 files cached; 20,000 purge messages are piped into Redis by `redis-cli --pipe`
 * (another process, so the publisher never stalls this one), while one reader here asks for a
 * cached file and /readyz in turn. Prints the reader's worst and p99 latency during the storm.
 */
const here = dirname(fileURLToPath(import.meta.url))
const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? fallback : process.argv[at + 1]
}
const CLI = resolve(arg('cli', join(here, '..', 'dist', 'cli.js')))
const RUNS = Number(arg('runs', '3'))
const COUNT = Number(arg('count', '20000'))
const FILES = 1000

const redis = await startRedis()
if (redis === undefined) throw new Error('redis-server is not installed')
const base = mkdtempSync(join(tmpdir(), 'podside-storm-'))
const root = join(base, 'root')
for (let d = 0; d < FILES / 10; d++) {
  mkdirSync(join(root, 'storm', `dir${d}`), { recursive: true })
  for (let f = 0; f < 10; f++) writeFileSync(join(root, 'storm', `dir${d}`, `${f}.png`), `file ${d}/${f} `.repeat(50))
}
writeFileSync(join(root, 'hot.txt'), 'a file every reader wants '.repeat(40))

// The storm as RESP PUBLISH commands, for `redis-cli --pipe`.
const storm = purgeStorm(COUNT)
const respFile = join(base, 'storm.resp')
const out = createWriteStream(respFile)
for (const m of storm.messages) {
  const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`
  out.write(`*3\r\n${bulk('PUBLISH')}${bulk('podside:purge')}${bulk(m)}`)
}
await new Promise<void>((resolve) => out.end(resolve))

async function get (url: string): Promise<{ status: number, text: string }> {
  const r = await request(url, { headersTimeout: 30_000, bodyTimeout: 30_000 })
  return { status: r.statusCode, text: await r.body.text() }
}

async function counters (adminUrl: string): Promise<{ applied: number, ignored: number }> {
  const text = (await get(adminUrl + '/metrics')).text
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0)
  return {
    applied: value(/^podside_fileproxy_purges_received_total\{source="redis"\} (\d+)/m),
    ignored: value(/^podside_fileproxy_purge_messages_ignored_total (\d+)/m)
  }
}

interface Run { quietWorst: number, worst: number, p99: number, requests: number, seconds: number, lines: number, malformedLines: number }

async function run (): Promise<Run> {
  const [port, adminPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, [CLI, 'fileproxy', '--root', root, '--redis', redis!.url,
    '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  let lines = 0
  let malformedLines = 0
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines++
    if (/malformed|message ignored|messages ignored/.test(line)) malformedLines++
  })
  await waitForPort('fileproxy', child, adminPort, () => stderr)
  const url = `http://127.0.0.1:${port}`
  const adminUrl = `http://127.0.0.1:${adminPort}`
  for (;;) { if ((await get(adminUrl + '/readyz')).status === 200) break; await new Promise((resolve) => setTimeout(resolve, 50)) }
  for (let d = 0; d < FILES / 10; d++) for (let f = 0; f < 10; f++) await get(`${url}/storm/dir${d}/${f}.png`)
  for (let i = 0; i < 200; i++) { await get(url + '/hot.txt'); await get(adminUrl + '/readyz') } // warm the reader's path
  // The same reader for 2 s without a storm: what a busy machine alone costs (its worst latency).
  let storming = true
  const read = async (latencies: number[]): Promise<void> => {
    for (let i = 0; storming; i++) {
      const started = performance.now()
      const r = await get(i % 2 === 0 ? url + '/hot.txt' : adminUrl + '/readyz')
      if (r.status !== 200) throw new Error(`reader got ${r.status}`)
      latencies.push(performance.now() - started)
    }
  }
  const quiet: number[] = []
  const quietReader = read(quiet)
  await new Promise((resolve) => setTimeout(resolve, 2000))
  storming = false
  await quietReader
  storming = true

  const before = await counters(adminUrl)
  const linesBefore = lines
  const latencies: number[] = []
  const reader = read(latencies)
  const started = performance.now()
  const pipe = spawn('redis-cli', ['-p', String(redis!.url.split(':').pop()), '--pipe'], { stdio: ['pipe', 'ignore', 'inherit'] })
  const piped = new Promise((resolve) => pipe.once('exit', resolve))
  createReadStream(respFile).pipe(pipe.stdin)
  // The storm lasts until the fileproxy has counted every message.
  for (;;) {
    const c = await counters(adminUrl)
    if (c.applied - before.applied >= storm.applied && c.ignored - before.ignored >= storm.ignored) {
      if (c.applied - before.applied !== storm.applied || c.ignored - before.ignored !== storm.ignored) throw new Error(`counters overshot: ${JSON.stringify(c)}`)
      break
    }
    if (performance.now() - started > 120_000) throw new Error(`the storm was not counted within 120 s: ${JSON.stringify(c)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const seconds = (performance.now() - started) / 1000
  storming = false
  await reader
  await piped
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  latencies.sort((a, b) => a - b)
  const p99 = latencies[Math.min(latencies.length - 1, Math.floor(0.99 * latencies.length))]
  return { quietWorst: Math.max(...quiet), worst: latencies[latencies.length - 1], p99, requests: latencies.length, seconds, lines: lines - linesBefore, malformedLines }
}

const runs: Run[] = []
try {
  for (let i = 0; i < RUNS; i++) {
    const r = await run()
    runs.push(r)
    console.log(`run ${i + 1}: without a storm worst ${r.quietWorst.toFixed(1)} ms; during it worst ${r.worst.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms over ${r.requests} reader requests; ` +
      `storm counted in ${r.seconds.toFixed(2)} s; ${r.lines} log lines during it, ${r.malformedLines} about ignored messages`)
  }
} finally {
  await redis.stop()
  rmSync(base, { recursive: true, force: true })
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(`median of ${runs.length} (${COUNT} messages: ${storm.applied} purges, ${storm.ignored} ignored; ${CLI}): ` +
  `worst ${median(runs.map((r) => r.worst)).toFixed(1)} ms (without a storm ${median(runs.map((r) => r.quietWorst)).toFixed(1)} ms), p99 ${median(runs.map((r) => r.p99)).toFixed(1)} ms, ` +
  `storm ${median(runs.map((r) => r.seconds)).toFixed(2)} s`)
