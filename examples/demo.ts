import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../shared/config.js'
import { createLogger } from '../shared/logger.js'
import { checkGatewayConfig, gatewaySettings } from '../gateway/settings.js'
import { createGateway } from '../gateway/server.js'
import { checkFileproxyConfig, fileproxySettings } from '../fileproxy/settings.js'
import { createFileproxy } from '../fileproxy/server.js'
import { createBalancer } from './balancer.js'
import { createCookieApp } from './cookie-app.js'

/**
 * `npm start`: podside on one machine as it runs on many. Two copies of a cookie-based app, each
 * with a gateway and a file proxy beside it, Redis between them (when `redis-server` is on the
 * PATH; otherwise one node on the in-memory store), and a round-robin balancer in front.
 */
const logLevel = process.env.PODSIDE_LOG_LEVEL ?? 'warn'
const stops: Array<() => Promise<void> | void> = []

async function listenLocal (server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
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
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  stops.push(() => { child.kill() })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) }); s.on('error', () => resolve(false)) })
    if (up) return `redis://127.0.0.1:${port}`
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return undefined
}

const uploads = mkdtempSync(join(tmpdir(), 'podside-demo-uploads-'))
mkdirSync(join(uploads, 'avatars'))
const avatar = (color: string): string => `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="${color}"/></svg>\n`
writeFileSync(join(uploads, 'avatars', 'alice.svg'), avatar('#2a7ae2'))
stops.push(() => rmSync(uploads, { recursive: true, force: true }))

const redis = await startRedis()
const nodes = redis === undefined ? 1 : 2
const secret = 'demo-secret-for-this-machine-only-0123456789'
const gateways: string[] = []
const fileproxies: string[] = []
for (let n = 1; n <= nodes; n++) {
  const app = createCookieApp({ name: `node-${n}`, uploads: '/uploads/avatars/alice.svg' })
  const appUrl = await listenLocal(app)
  stops.push(() => { app.closeAllConnections(); app.close() })
  const common = ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--log-level', logLevel, ...redis === undefined ? [] : ['--redis', redis]]
  const gw = createGateway(loadConfig(gatewaySettings, ['--upstream', appUrl, ...common, ...redis === undefined ? [] : ['--secret', secret], '--trust-proxy'], {}, checkGatewayConfig).values,
    { log: createLogger({ name: `gateway-${n}`, level: logLevel }) })
  gateways.push((await gw.listen()).url)
  stops.push(async () => await gw.close())
  const fp = createFileproxy(loadConfig(fileproxySettings, ['--root', uploads, ...common, '--revalidate', '0'], {}, checkFileproxyConfig).values,
    { log: createLogger({ name: `fileproxy-${n}`, level: logLevel }) })
  fileproxies.push((await fp.listen()).url)
  stops.push(async () => await fp.close())
}
const balancer = createBalancer(gateways, fileproxies)
const url = await listenLocal(balancer, Number(process.env.PORT ?? 8080))
stops.push(() => { balancer.closeAllConnections(); balancer.close() })

process.stdout.write(`
podside demo: ${nodes === 2 ? 'two nodes sharing sessions and purges through Redis' : 'one node on the in-memory store (redis-server is not on the PATH; install it to see two nodes)'}

  Open      ${url}/
  Log in    ${url}/login?user=alice      then reload: the balancer alternates between nodes
            (the page says which served it) and you stay logged in.
  Look      ${url}/whoami                the Cookie header the app receives, rebuilt from the jar
  Upload    ${url}/uploads/avatars/alice.svg   served from the file proxies' memory
  Change it echo '${avatar('#e24a2a').trim()}' > ${join(uploads, 'avatars', 'alice.svg')}
            it stays cached until you purge it:
  Purge     ${redis === undefined ? `curl -X POST ${fileproxies[0].replace(/:\d+$/, ':<admin port>')}/v1/purge -d /avatars/alice.svg` : `npx podside purge --redis ${redis} /avatars/alice.svg`}

Ctrl-C stops everything this started.
`)

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  void (async () => {
    for (const s of stops.reverse()) await s()
    process.exit(0)
  })()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
