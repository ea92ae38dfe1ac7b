import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { loadConfig } from '../../shared/load-config.js'
import { checkGatewayConfig, gatewaySettings } from '../../gateway/settings.js'
import { createGateway } from '../../gateway/server.js'
import { Browser } from '../helpers/browser.js'
import { capturingLogger } from '../helpers/log.js'
import { freePort, waitFor } from '../helpers/ports.js'
import { serve } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * HTTP/1.1 Upgrade through the gateway (gateway/upgrade.ts), in process, with raw sockets on both
 * sides: an app that switches protocols (and then echoes, after one line naming the Cookie header
 * it received), declines, or is not there; a client that stays, sends early bytes, or leaves.
 */
const appSockets: Duplex[] = []
const appServer = http.createServer((req, res) => {
  // Plain requests: /set?c=<line> sets a cookie (to put something in the jar).
  const lines = new URL(req.url ?? '/', 'http://app').searchParams.getAll('c')
  res.writeHead(200, lines.length > 0 ? { 'set-cookie': lines } : {}).end('ok')
})
appServer.on('upgrade', (req, socket, head) => {
  appSockets.push(socket)
  socket.on('error', () => {})
  if (req.url === '/decline') {
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nset-cookie: declined=1\r\n\r\nnope')
    return
  }
  const extra = req.url === '/ws-cookie' ? 'set-cookie: room=7; Path=/\r\n' : ''
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade ?? ''}\r\nconnection: Upgrade\r\n${extra}\r\n`)
  socket.write(`cookie=${req.headers.cookie ?? ''};session=${String(req.headers['podside-session-id'] ?? '')}\n`)
  if (head.length > 0) socket.write(head)
  socket.pipe(socket)
})
const app = await serve(appServer)
t.teardown(async () => await app.close())

async function gateway (t: Test, upstream = app.url, args: string[] = []) {
  const { log, lines } = capturingLogger()
  const { values } = loadConfig(gatewaySettings, ['--upstream', upstream, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--shutdown-timeout', '1s', ...args], {}, checkGatewayConfig)
  const gw = createGateway(values, { log })
  const urls = await gw.listen()
  t.teardown(async () => await gw.close())
  return { ...urls, port: Number(new URL(urls.url).port), lines }
}

interface Upgraded { status: number, head: string, socket: net.Socket, /** Bytes after the head, so far. */ data: () => string, closed: () => boolean }

/** Sends an Upgrade request (plus `early` bytes right after it) and resolves with the answer's head. */
async function upgrade (t: Test, port: number, path: string, headers: Record<string, string> = {}, early = ''): Promise<Upgraded> {
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  let buf = ''
  let closed = false
  socket.on('data', (d) => { buf += String(d) })
  socket.on('close', () => { closed = true })
  const lines = Object.entries({ host: `127.0.0.1:${port}`, connection: 'Upgrade', upgrade: 'websocket', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  socket.write(`GET ${path} HTTP/1.1\r\n${lines}\r\n${early}`)
  const end = await waitFor('the answer\'s head', () => buf.includes('\r\n\r\n') ? buf.indexOf('\r\n\r\n') : closed ? -1 : undefined)
  if (end === -1) throw new Error(`closed without an answer: ${JSON.stringify(buf)}`)
  const head = buf.slice(0, end)
  return { status: Number(head.split(' ')[1]), head, socket, data: () => buf.slice(end + 4), closed: () => closed }
}

const headerLines = (head: string, name: string): string[] =>
  head.split('\r\n').slice(1).filter((l) => l.toLowerCase().startsWith(name + ':')).map((l) => l.slice(name.length + 1).trim())

t.test('the jar\'s cookies and the session id reach the app on an upgrade; the switched connection carries bytes both ways', async (t) => {
  const gw = await gateway(t)
  const browser = new Browser()
  await browser.get(gw.url, '/set?c=' + encodeURIComponent('jar=1; Path=/'))
  const podside = browser.cookies.get('podside') as string
  const ws = await upgrade(t, gw.port, '/ws', { cookie: `podside=${podside}; own=2` })
  t.equal(ws.status, 101)
  t.same(headerLines(ws.head, 'upgrade'), ['websocket'])
  t.same(headerLines(ws.head, 'connection'), ['Upgrade'])
  const greeting = await waitFor('the app\'s first line', () => ws.data().includes('\n') ? ws.data().split('\n')[0] : undefined)
  t.match(greeting, /^cookie=jar=1; own=2;session=[A-Za-z0-9_-]{32}$/, 'the jar cookie and the browser\'s own, never podside=')
  ws.socket.write('ping')
  await waitFor('the echo', () => ws.data().endsWith('ping') ? true : undefined)
  t.pass('echoed through both sockets')
})

t.test('bytes the client sent right behind its request head reach the app', async (t) => {
  const gw = await gateway(t)
  const ws = await upgrade(t, gw.port, '/ws', {}, 'early-bytes')
  await waitFor('the early bytes echoed', () => ws.data().includes('early-bytes') ? true : undefined)
  t.match(ws.data(), /^cookie=;session=\n/, 'an anonymous upgrade: no cookie, no session')
})

t.test('a Set-Cookie in the app\'s 101 goes into the jar; the browser gets the podside cookie only', async (t) => {
  const gw = await gateway(t)
  const ws = await upgrade(t, gw.port, '/ws-cookie')
  t.equal(ws.status, 101)
  const setCookies = headerLines(ws.head, 'set-cookie')
  t.equal(setCookies.length, 1)
  t.match(setCookies[0], /^podside=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/)
  t.notMatch(ws.head, /room=7/)
  const browser = new Browser()
  browser.cookies.set('podside', /^podside=([^;]+)/.exec(setCookies[0])?.[1] as string)
  const next = await upgrade(t, gw.port, '/ws', { cookie: `podside=${browser.cookies.get('podside') as string}` })
  await waitFor('the app\'s first line', () => ws.data().includes('\n') && next.data().includes('\n') ? true : undefined)
  t.match(next.data(), /^cookie=room=7;/, 'the next upgrade carries it')
})

t.test('the app declining the upgrade: its plain answer is relayed (cookies into the jar), then the connection closes', async (t) => {
  const gw = await gateway(t)
  const r = await upgrade(t, gw.port, '/decline')
  t.equal(r.status, 403)
  t.same(headerLines(r.head, 'connection'), ['close'])
  t.same(headerLines(r.head, 'upgrade'), [], 'no Upgrade header on a refusal')
  t.match(headerLines(r.head, 'set-cookie'), [/^podside=/])
  t.notMatch(r.head, /declined=1/)
  await waitFor('the body and the close', () => r.closed() ? true : undefined)
  t.equal(r.data(), 'nope')
})

t.test('the app unreachable: a raw 502 with GW_ERR_UPSTREAM_UNREACHABLE logged, and the connection closed', async (t) => {
  const gw = await gateway(t, `http://127.0.0.1:${await freePort()}`)
  const r = await upgrade(t, gw.port, '/ws')
  t.equal(r.status, 502)
  t.same(headerLines(r.head, 'connection'), ['close'])
  t.same(headerLines(r.head, 'content-length'), ['0'])
  await waitFor('the close', () => r.closed() ? true : undefined)
  t.match(gw.lines.find((l) => l.msg === 'upgrade failed'), { code: 'GW_ERR_UPSTREAM_UNREACHABLE', path: '/ws' })
})

t.test('malformed framing on an upgrade is a raw 400 and never reaches the app', async (t) => {
  const gw = await gateway(t)
  const before = appSockets.length
  const r = await upgrade(t, gw.port, '/ws', { 'transfer-encoding': 'gzip' })
  t.equal(r.status, 400)
  t.equal(appSockets.length, before)
})

t.test('Redis unreachable (--store-failure closed): a raw 503 with Retry-After', async (t) => {
  const redis = await startRedis()
  const relay = await startTcpProxy(redis.port)
  t.teardown(async () => { await relay.close(); await stopRedis(redis) })
  const gw = await gateway(t, app.url, ['--redis', `redis://127.0.0.1:${relay.port}`, '--secret', 's'.repeat(32), '--redis-timeout', '300ms', '--session-cache-size', '0'])
  const browser = new Browser()
  await browser.get(gw.url, '/set?c=a%3D1')
  relay.cut()
  const r = await upgrade(t, gw.port, '/ws', { cookie: `podside=${browser.cookies.get('podside') as string}` })
  t.equal(r.status, 503)
  t.same(headerLines(r.head, 'retry-after'), ['1'])
})

t.test('a client gone after the switch closes the app\'s side; the app closing closes the client\'s', async (t) => {
  const gw = await gateway(t)
  const first = await upgrade(t, gw.port, '/ws')
  await waitFor('the app\'s first line', () => first.data().includes('\n') ? true : undefined)
  const appSide = appSockets.at(-1) as Duplex
  first.socket.destroy()
  await waitFor('the app\'s socket to close', () => appSide.destroyed ? true : undefined)
  const second = await upgrade(t, gw.port, '/ws')
  await waitFor('the app\'s first line', () => second.data().includes('\n') ? true : undefined)
  ;(appSockets.at(-1) as Duplex).destroy()
  await waitFor('the client\'s socket to close', () => second.closed() ? true : undefined)
  t.pass('both directions')
})

t.test('a client gone before the app answered: the gateway carries on', async (t) => {
  const gw = await gateway(t)
  const socket = net.connect(gw.port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.end('GET /ws HTTP/1.1\r\nhost: app.test\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n')
  socket.destroy()
  const after = await upgrade(t, gw.port, '/ws')
  t.equal(after.status, 101, 'the next upgrade is served')
  t.notOk(gw.lines.find((l) => (l.level as number) >= 50), 'nothing logged as an error')
})
