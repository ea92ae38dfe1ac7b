import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { Pool } from 'undici'
import { createCookieApp } from '../examples/cookie-app.js'
import { cpuSeconds, freePort, startServer, type Server } from './lib/processes.js'
import { pad, writeResults } from './lib/report.js'

/**
 * `npm run bench:cluster [-- --users N]`: what podside costs Redis, under a real 3-master Redis
 * Cluster, for docs/capacity.md. Three `podside gateway` processes with the session cache on
 * (defaults) and three with it off, in front of the in-process cookie app. Each phase sends a
 * known number of requests, round-robin over the gateways, and reads every master's INFO before
 * and after: commands (commandstats, without our INFO), bytes in and out, CPU (user + sys). It
 * reports per request and per 1,000 requests, and each master's share (an even spread means
 * sessions spread over the slots). The machine may be busy: quote ratios and per-request figures.
 */
const { values: opts } = parseArgs({ options: { users: { type: 'string', default: '600' }, concurrency: { type: 'string', default: '24' } } })
const USERS = Number(opts.users)
const CONCURRENCY = Number(opts.concurrency)
if (!(USERS > 0) || !(CONCURRENCY > 0)) { process.stderr.write('usage: npm run bench:cluster -- [--users N] [--concurrency C]\n'); process.exit(2) }
if (spawnSync('redis-server', ['--version']).error !== undefined) { process.stderr.write('redis-server is not installed\n'); process.exit(2) }

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js')
const SECRET = 'bench-' + randomBytes(24).toString('hex')

interface Gateway { url: string, pid: number, stop: () => Promise<void> }
interface Master { port: number, redis: Redis }
interface Sample { calls: number, scripts: number, infoCalls: number, inBytes: number, outBytes: number, cpu: number }

async function startCluster (dir: string): Promise<{ ports: number[], servers: Server[] }> {
  const ports: number[] = []
  const servers: Server[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    ports.push(port)
    servers.push(await startServer(`redis ${port}`, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`], port))
  }
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8' })
  if (create.status !== 0) throw new Error(`redis-cli --cluster create: ${create.stderr}${create.stdout}`)
  for (const port of ports) {
    const r = new Redis({ port, host: '127.0.0.1' })
    for (;;) {
      if ((await r.cluster('INFO') as string).includes('cluster_state:ok')) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    r.disconnect()
  }
  return { ports, servers }
}

async function startGateway (upstream: string, redis: string, extra: string[]): Promise<Gateway> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'gateway', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--upstream', upstream, '--redis', redis, '--secret', SECRET, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  let url = ''
  let subscribed = extra.includes('0')
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)))
    lines.on('line', (line) => {
      try {
        const l = JSON.parse(line) as { url?: string, msg?: string }
        if (typeof l.url === 'string') url = l.url
        if (l.msg === 'subscribed') subscribed = true
      } catch { /* not JSON */ }
      if (url !== '' && subscribed) resolve()
    })
  })
  return {
    url, pid: child.pid as number,
    stop: async () => { if (child.exitCode === null) await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM') }) }
  }
}

async function sample (m: Master): Promise<Sample> {
  const [stats, cmd, cpu] = await Promise.all([m.redis.info('stats'), m.redis.info('commandstats'), m.redis.info('cpu')])
  const num = (text: string, field: string): number => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0)
  let calls = 0
  for (const x of cmd.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(x[1])
  return {
    calls,
    scripts: [...cmd.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((a, x) => a + Number(x[1]), 0),
    infoCalls: Number(/^cmdstat_info:calls=(\d+)/m.exec(cmd)?.[1] ?? 0),
    inBytes: num(stats, 'total_net_input_bytes'), outBytes: num(stats, 'total_net_output_bytes'),
    cpu: num(cpu, 'used_cpu_user') + num(cpu, 'used_cpu_sys')
  }
}

/** Sends `paths[i]` with `cookies[i]` through gateway i % n, `CONCURRENCY` at a time; counts non-2xx. */
async function drive (gateways: Gateway[], jobs: Array<{ path: string, user: number }>, cookies: string[]): Promise<{ bad: number, seconds: number }> {
  const pools = gateways.map((g) => new Pool(g.url, { connections: CONCURRENCY }))
  let next = 0
  let bad = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (;;) {
      const i = next++
      if (i >= jobs.length) return
      const job = jobs[i]
      const res = await pools[i % pools.length].request({ method: 'GET', path: job.path, headers: cookies[job.user] === '' ? {} : { cookie: cookies[job.user] } })
      const set = res.headers['set-cookie']
      for (const line of set === undefined ? [] : Array.isArray(set) ? set : [set]) {
        if (line.startsWith('podside=')) cookies[job.user] = /max-age=0/i.test(line) ? '' : line.split(';')[0]
      }
      await res.body.dump()
      if (res.statusCode >= 300) bad++
    }
  }))
  await Promise.all(pools.map(async (p) => await p.close()))
  return { bad, seconds: (performance.now() - t0) / 1000 }
}

interface Row { phase: string, requests: number, bad: number, gatewayCpuUs: number, perRequest: { scripts: number, commands: number, inBytes: number, outBytes: number }, redisCpuMsPer1000: number, opsPerSecond: number[], share: number[] }

async function phase (name: string, masters: Master[], gateways: Gateway[], jobs: Array<{ path: string, user: number }>, cookies: string[]): Promise<Row> {
  const before = await Promise.all(masters.map(sample))
  const cpu0 = gateways.reduce((a, g) => a + cpuSeconds(g.pid), 0)
  const { bad, seconds } = await drive(gateways, jobs, cookies)
  const gatewayCpuUs = (gateways.reduce((a, g) => a + cpuSeconds(g.pid), 0) - cpu0) * 1e6 / jobs.length
  const after = await Promise.all(masters.map(sample))
  // The sample itself is 3 INFO calls per master: not the gateways' doing.
  const commands = masters.map((_, i) => after[i].calls - before[i].calls - (after[i].infoCalls - before[i].infoCalls))
  const total = commands.reduce((a, b) => a + b, 0)
  const sum = (f: (s: Sample) => number): number => masters.reduce((acc, _, i) => acc + f(after[i]) - f(before[i]), 0)
  return {
    phase: name, requests: jobs.length, bad, gatewayCpuUs,
    perRequest: { scripts: sum((s) => s.scripts) / jobs.length, commands: total / jobs.length, inBytes: sum((s) => s.inBytes) / jobs.length, outBytes: sum((s) => s.outBytes) / jobs.length },
    redisCpuMsPer1000: sum((s) => s.cpu) * 1000 / jobs.length * 1000,
    opsPerSecond: commands.map((c) => c / seconds),
    share: commands.map((c) => total === 0 ? 0 : c / total)
  }
}

const dir = mkdtempSync(join(tmpdir(), 'podside-bench-cluster-'))
const { ports, servers } = await startCluster(dir)
const url = `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`
const app = createCookieApp()
await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
const upstream = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
const cached = await Promise.all([0, 1, 2].map(async () => await startGateway(upstream, url, [])))
const uncached = await Promise.all([0, 1, 2].map(async () => await startGateway(upstream, url, ['--session-cache-size', '0'])))
const masters: Master[] = ports.map((port) => ({ port, redis: new Redis({ port, host: '127.0.0.1' }) }))
const cookies = new Array<string>(USERS).fill('')
const each = (path: (u: number) => string, rounds = 1): Array<{ path: string, user: number }> =>
  Array.from({ length: USERS * rounds }, (_, i) => ({ path: path(i % USERS), user: i % USERS }))
const rows: Row[] = []
try {
  rows.push(await phase('new session (first cookie)', masters, cached, each((u) => `/set?name=theme&value=t${u}`), cookies))
  await drive(cached, each(() => '/whoami', 3), cookies) // every gateway has every session cached
  rows.push(await phase('read, cache on (warm)', masters, cached, each(() => '/whoami', 5), cookies))
  rows.push(await phase('read, cache off', masters, uncached, each(() => '/whoami', 5), cookies))
  rows.push(await phase('write (one app cookie)', masters, cached, each((u) => `/set?name=step&value=${u}`), cookies))
  rows.push(await phase('read after a write elsewhere (miss)', masters, cached, each(() => '/whoami'), cookies))
  rows.push(await phase('login (regenerate + user index)', masters, cached, each((u) => `/login?user=u${u}`), cookies))
  // Memory per session, as Redis counts it (key, hash, fields; allocator overhead included), and per user index.
  const memOf = async (pattern: string): Promise<number[]> => {
    const out: number[] = []
    for (const m of masters) {
      const keys = (await m.redis.scan('0', 'MATCH', pattern, 'COUNT', 5000))[1].slice(0, 100)
      for (const k of keys) out.push(Number(await m.redis.memory('USAGE', k)))
    }
    return out
  }
  const avg = (xs: number[]): number => xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length
  const sessionKeys = await memOf('podside:s:*')
  const userKeys = await memOf('podside:u:*')
  rows.push(await phase('logout (destroy)', masters, cached, each(() => '/logout'), cookies))
  // A purge is one PUBLISH (podside purge), which a Cluster's bus relays to every node.
  const before = await Promise.all(masters.map(sample))
  const pub = new Redis({ port: ports[0], host: '127.0.0.1' })
  for (let i = 0; i < 1000; i++) await pub.publish('podside:purge', JSON.stringify({ id: randomBytes(16).toString('hex'), paths: [`/assets/file-${i}.css`] }))
  pub.disconnect()
  const after = await Promise.all(masters.map(sample))
  const cpu = masters.reduce((acc, _, i) => acc + after[i].cpu - before[i].cpu, 0)
  rows.push({
    phase: 'purge (1 PUBLISH, no listeners)', requests: 1000, bad: 0, gatewayCpuUs: 0,
    perRequest: { scripts: 0, commands: 1, inBytes: masters.reduce((a, _, i) => a + after[i].inBytes - before[i].inBytes, 0) / 1000, outBytes: masters.reduce((a, _, i) => a + after[i].outBytes - before[i].outBytes, 0) / 1000 },
    redisCpuMsPer1000: cpu * 1000, opsPerSecond: [], share: []
  })
  process.stdout.write(`\nRedis Cluster, 3 masters; ${USERS} users; 3 gateways cache on + 3 cache off; load average ${loadavg()[0].toFixed(2)}\n\n`)
  process.stdout.write(`${pad('phase', 38)}${pad('requests', 10)}${pad('bad', 5)}${pad('scripts/req', 13)}${pad('cmds/req', 10)}${pad('B in/req', 10)}${pad('B out/req', 11)}${pad('Redis CPU ms/1k', 17)}${pad('gw CPU µs/req', 15)}ops/s per master (share)\n`)
  for (const r of rows) {
    process.stdout.write(`${pad(r.phase, 38)}${pad(String(r.requests), 10)}${pad(String(r.bad), 5)}${pad(r.perRequest.scripts.toFixed(2), 13)}${pad(r.perRequest.commands.toFixed(2), 10)}${pad(r.perRequest.inBytes.toFixed(0), 10)}` +
      `${pad(r.perRequest.outBytes.toFixed(0), 11)}${pad(r.redisCpuMsPer1000.toFixed(1), 17)}${pad(r.gatewayCpuUs.toFixed(0), 15)}${r.opsPerSecond.map((o, i) => `${o.toFixed(0)} (${(r.share[i] * 100).toFixed(0)}%)`).join('  ')}\n`)
  }
  process.stdout.write('\ncmds/req counts the commands scripts run inside them too (commandstats does); scripts/req are EVALSHA round trips.\n')
  process.stdout.write(`MEMORY USAGE after login: ${avg(sessionKeys).toFixed(0)} B per session key (${sessionKeys.length} sampled; the cookie app's jar: user, theme, step), ` +
    `${avg(userKeys).toFixed(0)} B per user index (${userKeys.length} sampled)\n`)
  const file = writeResults('-cluster', { users: USERS, concurrency: CONCURRENCY, loadavg: loadavg(), rows, sessionKeyBytes: avg(sessionKeys), userIndexBytes: avg(userKeys) })
  process.stdout.write(`results: ${file}\n`)
} finally {
  for (const m of masters) m.redis.disconnect()
  await Promise.all([...cached, ...uncached].map(async (g) => await g.stop()))
  app.close()
  await Promise.all(servers.map(async (s) => await s.stop()))
  rmSync(dir, { recursive: true, force: true })
}
