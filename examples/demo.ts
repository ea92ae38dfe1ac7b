import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../shared/load-config.js'
import { createLogger } from '../shared/logger.js'
import { checkGatewayConfig, gatewaySettings } from '../gateway/settings.js'
import { createGateway } from '../gateway/server.js'
import { checkFileproxyConfig, fileproxySettings } from '../fileproxy/settings.js'
import { createFileproxy } from '../fileproxy/server.js'
import { checkWorkerConfig, workerSettings } from '../tasks/settings.js'
import { createTasksWorker } from '../tasks/worker.js'
import { createBalancer } from './balancer.js'
import { createCookieApp } from './cookie-app.js'

/**
 * `npm start`: podside on one machine as it runs on many. Two copies of a cookie-based app, each
 * with a gateway and a file proxy beside it, Redis between them (when `redis-server` is on the
 * PATH; otherwise one node on the in-memory store), and a round-robin balancer in front.
 *
 * The balancer's port (`PORT`, default 8080) is bound first: a taken port ends the demo with one
 * line and exit code 2 before anything else starts. Every way out (Ctrl-C, SIGTERM, an error while
 * starting) stops what was started: the redis-server child is stopped and waited for, and the
 * temporary uploads folder is removed.
 */
const logLevel = process.env.PODSIDE_LOG_LEVEL ?? 'warn'
/** The daemons' logs, less the warnings the banner already explains (one node without Redis, no --secret). */
const logs = { write (line: string): void { if (!/"msg":"no --(redis|secret)[: ]/.test(line)) process.stdout.write(line) } }

/** What to undo, newest last. Once stopping has begun, whatever is added is undone at once. */
const stops: Array<() => Promise<void> | void> = []
/** What must not outlive the process even if it ends without running `stops` in full. */
const lastResort = { redis: undefined as ChildProcess | undefined, uploads: undefined as string | undefined }
let stopping = false

function track (stop: () => Promise<void> | void): void {
  if (stopping) void Promise.resolve().then(stop).catch(() => {})
  else stops.push(stop)
}

async function shutdown (code: number, line?: string): Promise<void> {
  if (stopping) return
  stopping = true
  if (line !== undefined) process.stderr.write(line + '\n')
  for (let s = stops.pop(); s !== undefined; s = stops.pop()) {
    try { await s() } catch { /* the next one still runs */ }
  }
  process.exit(code)
}

process.on('exit', () => {
  if (lastResort.redis !== undefined && lastResort.redis.exitCode === null && lastResort.redis.signalCode === null) lastResort.redis.kill('SIGKILL')
  if (lastResort.uploads !== undefined) rmSync(lastResort.uploads, { recursive: true, force: true })
})
process.once('SIGINT', () => { void shutdown(0) })
process.once('SIGTERM', () => { void shutdown(0) })
process.on('uncaughtException', (err) => { void shutdown(1, `podside demo: stopped on an error: ${String(err.message).replace(/\s*\n\s*/g, ' ')}`) })

async function listenLocal (server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

async function freePort (): Promise<number> {
  const s = net.createServer()
  const url = await listenLocal(s as unknown as Server)
  await new Promise((resolve) => s.close(resolve))
  return Number(new URL(url).port)
}

async function startRedis (): Promise<string | undefined> {
  if (spawnSync('redis-server', ['--version']).error !== undefined) return undefined
  const port = await freePort()
  if (stopping) return undefined
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.on('error', () => {})
  lastResort.redis = child
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const killer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(killer)
  }
  track(stop)
  const deadline = Date.now() + 5000
  while (Date.now() < deadline && !stopping && child.exitCode === null) {
    const up = await new Promise<boolean>((resolve) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) }); s.on('error', () => resolve(false)) })
    if (up) return `redis://127.0.0.1:${port}`
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  // It did not come up: carry on with one node on the in-memory store.
  await stop()
  return undefined
}

function portFromEnv (): number | string {
  const raw = process.env.PORT ?? '8080'
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 65535) return `podside demo: PORT=${JSON.stringify(raw)} is not a port number; run it as PORT=8081 npm start (PORT=0 picks a free port)`
  return Number(raw)
}

async function main (): Promise<void> {
  const port = portFromEnv()
  if (typeof port === 'string') return await shutdown(2, port)

  // The public port first: a taken port is known before anything is started.
  const gateways: string[] = []
  const fileproxies: string[] = []
  const balancer = createBalancer(gateways, fileproxies)
  let url: string
  try {
    url = await listenLocal(balancer, port)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'EADDRINUSE' ? 'is taken' : code === 'EACCES' ? 'needs privileges' : `cannot be used (${(err as Error).message})`
    return await shutdown(2, `podside demo: port ${port} ${why}; pick another with PORT=, e.g. PORT=${port === 8081 ? 8082 : 8081} npm start (PORT=0 picks a free port)`)
  }
  track(async () => {
    balancer.closeAllConnections()
    await new Promise((resolve) => balancer.close(resolve))
  })

  const uploads = mkdtempSync(join(tmpdir(), 'podside-demo-uploads-'))
  lastResort.uploads = uploads
  track(() => rmSync(uploads, { recursive: true, force: true }))
  mkdirSync(join(uploads, 'avatars'))
  const avatar = (color: string): string => `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="${color}"/></svg>\n`
  writeFileSync(join(uploads, 'avatars', 'alice.svg'), avatar('#2a7ae2'))

  // A schedule, "every 10 s on one node: count uploads". A dotfile: the file proxies do not serve it
  // and the count leaves it out.
  const schedules = join(uploads, '.schedules.json')
  writeFileSync(schedules, JSON.stringify({ schedules: { 'count-uploads': { every: '10s', on: 'one', task: { name: 'count-uploads' } } } }))
  let bannerShown = false
  const report = (line: string): void => { if (bannerShown) process.stdout.write(`  schedule: ${line}\n`) }
  // A task fanned out to every node (`on: every`), posted once the banner is shown: "warm each node's cache".
  const warmed = (line: string): void => { process.stdout.write(`  fan-out:  ${line}\n`) }

  const redis = await startRedis()
  const nodes = redis === undefined ? 1 : 2
  const secret = 'demo-secret-for-this-machine-only-0123456789'
  const admins: string[] = []
  const workers: string[] = []
  const workerAdmins: string[] = []
  for (let n = 1; n <= nodes && !stopping; n++) {
    const app = createCookieApp({ name: `node-${n}`, uploads: '/uploads/avatars/alice.svg', countUploads: { dir: uploads, report }, warmCache: { report: warmed } })
    const appUrl = await listenLocal(app)
    track(async () => { app.closeAllConnections(); await new Promise((resolve) => app.close(resolve)) })
    const common = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', logLevel, ...redis === undefined ? [] : ['--redis', redis]]
    const gwConfig = loadConfig(gatewaySettings, ['--upstream', appUrl, ...common, ...redis === undefined ? [] : ['--secret', secret], '--trust-proxy'], {}, checkGatewayConfig).values
    const gw = createGateway(gwConfig, { log: createLogger({ name: `gateway-${n}`, level: logLevel, stream: logs }) })
    track(async () => await gw.close())
    const g = await gw.listen()
    const fpConfig = loadConfig(fileproxySettings, ['--root', uploads, ...common, '--revalidate', '0'], {}, checkFileproxyConfig).values
    const fp = createFileproxy(fpConfig, { log: createLogger({ name: `fileproxy-${n}`, level: logLevel, stream: logs }) })
    track(async () => await fp.close())
    const f = await fp.listen()
    const wConfig = loadConfig(workerSettings, ['--upstream', appUrl, '--admin-listen', '127.0.0.1:0', '--log-level', logLevel, '--schedules', schedules,
      ...redis === undefined ? [] : ['--redis', redis]], {}, checkWorkerConfig).values
    const worker = createTasksWorker(wConfig, { log: createLogger({ name: `tasks-${n}`, level: logLevel, stream: logs }) })
    track(async () => await worker.close())
    const w = await worker.listen()
    gateways.push(g.url)
    fileproxies.push(f.url)
    admins.push(`  node-${n}    gateway admin ${g.adminUrl} (/metrics, /v1/sessions/<id>)   file proxy admin ${f.adminUrl}`)
    workers.push(`            node-${n} tasks worker admin ${w.adminUrl} (/v1/tasks, /v1/schedules)`)
    workerAdmins.push(w.adminUrl)
  }
  if (stopping) return

  const fpAdmin = admins.length > 0 ? (/file proxy admin (\S+)/.exec(admins[0]) as RegExpExecArray)[1] : ''
  const purge = redis === undefined
    ? `curl -s -X POST --data-binary /avatars/alice.svg ${fpAdmin}/v1/purge`
    : `npx podside purge --redis ${redis} /avatars/alice.svg`
  process.stdout.write(`
podside demo: ${nodes === 2 ? 'two nodes sharing sessions and purges through Redis' : 'one node on the in-memory store (redis-server is not on the PATH; install it to see two nodes)'}

  Open      ${url}/
  Log in    ${url}/login?user=alice      brings you back to the page; reload it: the balancer
            alternates between nodes (the page says which served it) and you stay logged in.
  Look      ${url}/whoami                the Cookie header the app receives, rebuilt from the jar
  Upload    ${url}/uploads/avatars/alice.svg   served from the file proxies' memory
  Hash URL  npx podside url --admin ${fpAdmin} /avatars/alice.svg
            prints /avatars/alice.svg?v=<hash>: open ${url}/uploads/avatars/alice.svg?v=<hash>,
            cacheable forever (Cache-Control: immutable); a changed file gets a new hash.
  Change it echo '${avatar('#e24a2a').trim()}' > ${join(uploads, 'avatars', 'alice.svg')}
            it stays cached until you purge it:
  Purge     ${purge}
${redis === undefined ? '            (one node without Redis: the purge goes to its admin listener)\n' : ''}  Fan-out   warm-cache posted once with "on": "every": each node runs it once and prints a "fan-out:" line below
  Schedule  count-uploads every 10 s on one node of ${nodes === 2 ? 'the two' : 'one'}: each run prints a "schedule:" line below
            ${redis === undefined ? `curl -s ${/admin (\S+)/.exec(workers[0] ?? '')?.[1] ?? ''}/v1/schedules` : `npx podside tasks schedules --redis ${redis}`}   next tick, last run, outcome

  Admin listeners (loopback only):
${admins.join('\n')}
${workers.join('\n')}

Ctrl-C stops everything this started.
`)
  bannerShown = true
  // The demo goes on without it: the fan-out is one of several things to try.
  await fanOut(workerAdmins, nodes).catch((err: Error) => { process.stdout.write(`  fan-out:  warm-cache not posted: ${err.message}\n`) })
}

/**
 * Posts "warm-cache" to every node (`on: every`) through node-1's task API, once the fleet registry
 * lists every node's worker (a node that has not joined yet would get no copy), and prints the task.
 */
async function fanOut (admins: string[], nodes: number): Promise<void> {
  if (stopping || admins.length === 0) return
  const deadline = Date.now() + 10_000
  while (nodes > 1 && !stopping && Date.now() < deadline) {
    const view = await fetch(`${admins[0]}/v1/nodes`).then(async (r) => r.ok ? await r.json() as { nodes: Array<{ state: string, tasksRunning: number | null }> } : undefined).catch(() => undefined)
    if ((view?.nodes.filter((n) => n.state === 'live' && n.tasksRunning !== null).length ?? 0) >= nodes) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  if (stopping) return
  const res = await fetch(`${admins[0]}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'warm-cache', on: 'every' }) })
  const task = await res.json() as { id?: string }
  process.stdout.write(`  fan-out:  posted warm-cache to every node: curl -s ${admins[0]}/v1/tasks/${String(task.id)}   its copies, one per node, and their states\n`)
}

main().catch((err: unknown) => {
  if (stopping) return
  const message = err instanceof ConfigError ? `invalid setting: ${err.problems.join('; ')}` : (err as Error)?.message ?? String(err)
  void shutdown(1, `podside demo: could not start: ${message.replace(/\s*\n\s*/g, ' ')}`)
})
