import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { Pool } from 'undici'
import { createLogger, stdoutSink } from '../shared/logger.js'
import { LOG_SINK_DEFAULTS } from '../shared/log-sink.js'
import { CLI } from './lib/harness.js'
import { freePort, rssBytes, waitForPort } from './lib/processes.js'

/**
 * `npm run bench:access-log [-- --lines N] [-- --stall-seconds S]`: what one access line costs, by
 * way of writing it (each variant in its own process, stdout a pipe this process drains, CPU time
 * from the kernel over N lines, median of 3), then a real file proxy whose stdout reader stalls
 * for S seconds (default 30) under load: its RSS, the dropped-lines metric and the warning line.
 */
const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? fallback : Number(process.argv[at + 1])
}
const self = fileURLToPath(import.meta.url)

const VARIANTS: Record<string, string> = {
  'pino merge object → sonic-boom (sync: false), before': 'pino-boom',
  'pino merge object → sonic-boom (minLength 4096)': 'pino-boom-4k',
  'hand-built line → sonic-boom (minLength 4096, maxLength 8 MiB)': 'line-boom-4k',
  'pino merge object → podside sink': 'pino-sink',
  'hand-built line → podside sink (shipped)': 'line-sink'
}

/** In the child: writes `n` access lines the variant's way, flushes, reports CPU µs per line on stderr. */
async function child (variant: string, n: number): Promise<void> {
  const cpu0 = process.cpuUsage()
  const boom = variant.includes('boom')
    ? pino.destination({ dest: 1, sync: false, minLength: variant.endsWith('4k') ? 4096 : 0, maxLength: variant.startsWith('line') ? LOG_SINK_DEFAULTS.maxPendingBytes : 0 })
    : undefined
  const sink = boom === undefined ? stdoutSink('fileproxy') : undefined
  const stream = (boom ?? sink)!
  const writeLine = sink !== undefined ? sink.batch : (l: string) => boom!.write(l)
  const log = createLogger({ name: 'fileproxy', stream })
  const head = `,"name":"fileproxy","pid":${process.pid}`
  const requestId = '2b1c0d2e-8a51-4d1f-9a51-6a9f0c1b2e3d'
  for (let i = 0; i < n; i++) {
    const ms = 0.1 + (i % 50) / 100
    const path = `/avatars/${i % 1000}.png`
    if (variant.startsWith('pino')) {
      log.info({ reqId: i, method: 'GET', path, status: 200, ms: Math.round(ms * 100) / 100, ...{ requestId, source: 'hit' } }, 'request')
    } else {
      writeLine(`{"level":30,"time":${Date.now()}${head},"reqId":${i},"method":"GET","path":${JSON.stringify(path)},"status":200,"ms":${Math.round(ms * 100) / 100},"requestId":"${requestId}","source":"hit","msg":"request"}\n`)
    }
    // Let the event loop turn now and then, as a server's would between batches of requests.
    if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve))
  }
  if (boom !== undefined) await new Promise<void>((resolve) => { boom.once('close', () => resolve()); boom.end() })
  else await sink!.end(60_000)
  const cpu = process.cpuUsage(cpu0)
  process.stderr.write(JSON.stringify({ us: (cpu.user + cpu.system) / n }) + '\n')
}

async function runChild (variant: string, n: number): Promise<number> {
  const c = spawn(process.execPath, ['--import', 'tsx', self, '--child', variant, '--lines', String(n)], { stdio: ['ignore', 'pipe', 'pipe'] })
  c.stdout.resume()
  let err = ''
  c.stderr.on('data', (d) => { err += String(d) })
  await new Promise((resolve) => c.once('exit', resolve))
  return (JSON.parse(err.trim().split('\n').pop() as string) as { us: number }).us
}

async function micro (n: number): Promise<void> {
  const runs = new Map<string, number[]>()
  for (let round = 0; round < 3; round++) {
    for (const [label, v] of Object.entries(VARIANTS)) runs.set(label, [...runs.get(label) ?? [], await runChild(v, n)])
  }
  process.stdout.write(`CPU per access line (${n} lines per process, median of 3, writing and flushing included):\n`)
  for (const [label, xs] of runs) {
    xs.sort((a, b) => a - b)
    process.stdout.write(`  ${label.padEnd(66)} ${xs[1].toFixed(2)} µs  (runs ${xs.map((x) => x.toFixed(2)).join(', ')})\n`)
  }
}

/** A file proxy at its defaults whose stdout reader stops for `seconds` while it is under load. */
async function stall (seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-bench-stall-'))
  writeFileSync(join(dir, 'a.txt'), 'hello')
  const port = await freePort()
  const adminPort = await freePort()
  const c = spawn(process.execPath, [CLI, 'fileproxy', '--root', dir, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  c.stderr.on('data', (d) => { stderr += String(d) })
  await waitForPort('fileproxy', c, port, () => stderr)
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 16 })
  const rssAtStart = rssBytes(c.pid as number)
  let peak = rssAtStart
  let requests = 0
  const until = Date.now() + seconds * 1000
  // stdout is not read: the pipe fills, then the sink's bound.
  const long = '/' + 'x'.repeat(2000) // long paths fill the pending log sooner
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (Date.now() < until) {
      const r = await pool.request({ method: 'GET', path: requests % 2 === 0 ? '/a.txt' : long })
      await r.body.dump()
      requests++
      if (requests % 1000 === 0) peak = Math.max(peak, rssBytes(c.pid as number))
    }
  }))
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
  const dropped = /podside_log_lines_dropped_total (\d+)/.exec(metrics)?.[1]
  let out = ''
  c.stdout.on('data', (d) => { out += String(d) })
  const warning = await new Promise<string>((resolve) => {
    const check = (): void => {
      const line = out.split('\n').find((l) => l.includes('"dropped"'))
      if (line !== undefined) { c.stdout.off('data', check); resolve(line) }
    }
    c.stdout.on('data', check)
  })
  await pool.close()
  c.kill('SIGTERM')
  await new Promise((resolve) => c.once('exit', resolve))
  rmSync(dir, { recursive: true, force: true })
  process.stdout.write(`Stalled reader for ${seconds} s: ${requests} requests, RSS ${(rssAtStart / 2 ** 20).toFixed(1)} MiB at start, ` +
    `peak ${(peak / 2 ** 20).toFixed(1)} MiB (+${((peak - rssAtStart) / 2 ** 20).toFixed(1)} MiB); dropped ${dropped}; warning: ${warning}\n`)
}

if (process.argv.includes('--child')) {
  await child(process.argv[process.argv.indexOf('--child') + 1], arg('lines', 200_000))
} else {
  await micro(arg('lines', 200_000))
  await stall(arg('stall-seconds', 30))
}
