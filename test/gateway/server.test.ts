import t from 'tap'
import net from 'node:net'
import { Readable } from 'node:stream'
import { readFileSync } from 'node:fs'
import { request, WebSocket } from 'undici'
import { createCookieApp } from '../../examples/cookie-app.js'
import { Browser } from '../helpers/browser.js'
import { serve, startDaemon, type Daemon } from '../helpers/processes.js'
import { waitFor } from '../helpers/ports.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * End to end, with real processes: two `podside gateway` processes sharing one real redis-server,
 * in front of the cookie app. The browser is pointed at either gateway, as a load balancer would.
 */
const K1 = 'k1-0123456789abcdef0123456789abcdef'
const K2 = 'k2-0123456789abcdef0123456789abcdef'

const redis = await startRedis()
const app = await serve(createCookieApp())
const gatewayArgs = (secret: string, extra: string[] = []): string[] =>
  ['--upstream', app.url, '--redis', redis.url, '--secret', secret, '--redis-timeout', '300ms', ...extra]
const a = await startDaemon('gateway', gatewayArgs(K1))
const b = await startDaemon('gateway', gatewayArgs(K1))
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()])
  await app.close()
  await stopRedis(redis)
})

t.test('log in through one gateway, stay logged in through the other', async (t) => {
  const browser = new Browser()
  const login = await browser.get(a.url, '/login?user=alice')
  t.equal(login.status, 200)
  t.same([...browser.cookies.keys()], ['podside'], 'the browser holds only the gateway cookie')
  t.match(browser.received[0], /^podside=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax/)
  t.notMatch(browser.received.join('\n'), /user=/, 'the app\'s cookie never reaches the browser')
  const who = await browser.get(b.url, '/whoami')
  t.equal(who.json.user, 'alice')
  t.match(who.json.cookie, /user=alice/)
  t.match(who.json.cookie, /theme=dark/)
  t.notMatch(who.json.cookie, /podside=/, 'the gateway cookie never reaches the app')
  t.match(who.json.sessionId, /^[A-Za-z0-9_-]{32}$/)
})

t.test('anonymous traffic creates no session', async (t) => {
  const browser = new Browser()
  const res = await browser.get(a.url, '/whoami')
  t.equal(res.json.sessionId, null)
  t.same(browser.received, [])
})

t.test('50 parallel requests setting 50 different cookies all survive', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/set?name=first&value=0')
  await Promise.all(Array.from({ length: 50 }, async (_, i) =>
    await browser.get(i % 2 === 0 ? a.url : b.url, `/set?name=c${i}&value=v${i}`)))
  const who = await browser.get(b.url, '/whoami')
  for (let i = 0; i < 50; i++) t.match(who.json.cookie, new RegExp(`(^|; )c${i}=v${i}(;|$)`), `c${i} survived`)
})

t.test('tampered, forged and doubled cookies are no session', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/login?user=mallory-target')
  const good = browser.cookies.get('podside') as string
  const [id, mac] = good.split('.')
  const flip = (s: string): string => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
  for (const [what, value] of [['tampered mac', `${id}.${flip(mac)}`], ['tampered id', `${flip(id)}.${mac}`],
    ['unsigned id', id], ['chosen id', `${'x'.repeat(32)}.${mac}`], ['garbage', 'not-a-cookie']]) {
    const res = await request(`${a.url}/whoami`, { headers: { cookie: `podside=${value}` } })
    const body = await res.body.json() as { user: string | null, sessionId: string | null }
    t.same([body.user, body.sessionId], [null, null], what)
  }
  const other = new Browser()
  await other.get(a.url, '/login?user=someone-else')
  const both = await request(`${a.url}/whoami`, { headers: { cookie: `podside=${good}; podside=${other.cookies.get('podside') as string}` } })
  t.equal((await both.body.json() as { user: string | null }).user, null, 'two different gateway cookies: ambiguous')
  const same = await request(`${a.url}/whoami`, { headers: { cookie: `podside=${good}; podside=${good}` } })
  t.equal((await same.body.json() as { user: string | null }).user, 'mallory-target', 'the same cookie twice is not ambiguous')
})

t.test('secret rotation: the first key signs, every key verifies', async (t) => {
  const rotated = await startDaemon('gateway', gatewayArgs(`${K2},${K1}`))
  t.teardown(async () => await rotated.stop())
  const browser = new Browser()
  await browser.get(a.url, '/login?user=rotating')
  t.equal((await browser.get(rotated.url, '/whoami')).json.user, 'rotating', 'a cookie signed with the old key still works')
  const fresh = new Browser()
  await fresh.get(rotated.url, '/login?user=fresh')
  t.equal((await fresh.get(rotated.url, '/whoami')).json.user, 'fresh')
  t.equal((await fresh.get(a.url, '/whoami')).json.user, null, 'a node without the new key does not accept it')
})

t.test('regenerate on login, destroy on logout, and revocation by user', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/set?name=cart&value=3')
  const before = browser.cookies.get('podside')
  await browser.get(a.url, '/login?user=bob')
  const after = browser.cookies.get('podside')
  t.not(after, before, 'login gave a new session id')
  const who = await browser.get(b.url, '/whoami')
  t.match(who.json.cookie, /cart=3/, 'the jar moved to the new id')

  const other = new Browser()
  await other.get(b.url, '/login?user=bob')
  const list = await request(`${a.adminUrl}/v1/users/bob/sessions`)
  const { sessions } = await list.body.json() as { sessions: string[] }
  t.equal(sessions.length, 2, 'both of bob\'s sessions are indexed')
  const info = await request(`${a.adminUrl}/v1/sessions/${sessions[0]}`)
  const body = await info.body.json() as { user: string, cookies: Array<{ name: string }> }
  t.equal(body.user, 'bob')
  t.notMatch(JSON.stringify(body), /"value"/, 'the admin API never shows cookie values')

  await browser.get(a.url, '/logout')
  t.equal(browser.cookies.has('podside'), false, 'logout expired the browser cookie')
  t.equal((await request(`${a.adminUrl}/v1/users/bob/sessions`).then(async (r) => await r.body.json()) as { sessions: string[] }).sessions.length, 1)

  const del = await request(`${b.adminUrl}/v1/users/bob/sessions`, { method: 'DELETE' })
  t.equal(del.statusCode, 204)
  await del.body.dump()
  t.equal((await other.get(a.url, '/whoami')).json.user, null, 'log out everywhere ended the other session too')
  const gone = await request(`${a.adminUrl}/v1/sessions/${sessions[1]}`)
  t.equal(gone.statusCode, 404)
  await gone.body.dump()
})

async function cacheHits (d: Daemon): Promise<number> {
  const text = await (await request(`${d.adminUrl}/metrics`)).body.text()
  return Number(/podside_gateway_session_cache_lookups_total\{result="hit"\} (\d+)/.exec(text)?.[1] ?? 0)
}

t.test('a write through one gateway is seen at once through the other, which had the session cached', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/set?name=step&value=0')
  const hitsBefore = await cacheHits(b)
  for (let i = 1; i <= 20; i++) {
    t.match((await browser.get(b.url, '/whoami')).json.cookie, new RegExp(`step=${i - 1}`))
    await browser.get(a.url, `/set?name=step&value=${i}`)
    // No wait: the invalidation left Redis before gateway a learned its write succeeded.
    const who = await browser.get(b.url, '/whoami')
    if (!new RegExp(`(^|; )step=${i}(;|$)`).test(who.json.cookie)) { t.fail(`round ${i}: gateway b answered ${who.json.cookie}`); return }
  }
  t.ok(await cacheHits(b) > hitsBefore, 'gateway b answered from its session cache in between')
})

t.test('revoking a session through one gateway ends it at once on the other, which had it cached', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/login?user=revoked')
  const id = (await browser.get(b.url, '/whoami')).json.sessionId as string
  t.equal((await browser.get(b.url, '/whoami')).json.user, 'revoked')
  const del = await request(`${a.adminUrl}/v1/sessions/${id}`, { method: 'DELETE' })
  t.equal(del.statusCode, 204)
  await del.body.dump()
  const after = await browser.get(b.url, '/whoami')
  t.same([after.json.user, after.json.sessionId], [null, null])
})

t.test('a gateway whose invalidation link drops empties its session cache; nothing missed is served', async (t) => {
  const relay = await startTcpProxy(redis.port)
  const c = await startDaemon('gateway', ['--upstream', app.url, '--redis', `redis://127.0.0.1:${relay.port}`, '--secret', K1, '--redis-timeout', '300ms'])
  t.teardown(async () => { await c.stop(); await relay.close() })
  const subscriptions = (): number => c.lines.filter((l) => l.msg === 'subscribed').length
  await waitFor('gateway c to subscribe', () => subscriptions() === 1 ? true : undefined)
  const browser = new Browser()
  await browser.get(a.url, '/set?name=seen&value=before')
  t.match((await browser.get(c.url, '/whoami')).json.cookie, /seen=before/)
  t.match((await browser.get(c.url, '/whoami')).json.cookie, /seen=before/, 'now cached on c')
  relay.cut()
  await waitFor('gateway c to notice', () => c.lines.find((l) => l.msg === 'session invalidations lost: the session cache is off until they are back'))
  await browser.get(a.url, '/set?name=seen&value=during')
  relay.restore()
  await waitFor('gateway c to subscribe again', () => subscriptions() === 2 ? true : undefined)
  t.match((await browser.get(c.url, '/whoami')).json.cookie, /seen=during/, 'the write made while c was cut off is seen')
})

t.test('the old id gives no session to a request that comes after the regenerate answered', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/set?name=pre&value=1')
  const old = browser.cookies.get('podside') as string
  await browser.get(a.url, '/login?user=grace')
  const res = await request(`${b.url}/whoami`, { headers: { cookie: `podside=${old}` } })
  const seen = await res.body.json() as { cookie: string, sessionId: string | null }
  t.same({ cookie: seen.cookie, sessionId: seen.sessionId }, { cookie: '', sessionId: null })
  t.match((await browser.get(b.url, '/whoami')).json.cookie, /pre=1/, 'the new id holds the jar')
})

t.test('WebSocket upgrades carry the jar cookies', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/login?user=ws-user')
  const ws = new WebSocket(`${b.url.replace('http', 'ws')}/ws`, { headers: { cookie: `podside=${browser.cookies.get('podside') as string}` } } as any)
  const message = await new Promise<string>((resolve, reject) => {
    ws.addEventListener('message', (e) => resolve(String(e.data)))
    ws.addEventListener('error', () => reject(new Error('websocket error')))
  })
  ws.close()
  t.match(JSON.parse(message).cookie, /user=ws-user/)
})

t.test('a 200 MiB upload streams through without being buffered', async (t) => {
  const rss = (d: Daemon): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.child.pid}/status`, 'utf8'))?.[1]) * 1024
  const before = rss(a)
  const size = 200 * 1024 * 1024
  const chunk = Buffer.alloc(64 * 1024, 'x')
  const body = Readable.from((function * () { for (let sent = 0; sent < size; sent += chunk.length) yield chunk })())
  const res = await request(`${a.url}/upload`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
  t.same(await res.body.json(), { bytes: size, node: 'app' })
  // Buffering would grow the process by the body's size; streaming keeps it to GC slack.
  const growth = rss(a) - before
  t.ok(growth < size / 4, `gateway RSS grew ${(growth / 1024 / 1024).toFixed(1)} MiB for a 200 MiB body`)
})

t.test('request smuggling shapes are refused with 400 and never reach the app', async (t) => {
  const { port, hostname } = new URL(a.url)
  const raw = async (text: string): Promise<string> => await new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(text))
    let out = ''
    socket.on('data', (d) => { out += String(d) })
    socket.on('close', () => resolve(out))
    socket.on('error', () => resolve(out))
  })
  const smuggled = 'GET /whoami?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n'
  const cases: Record<string, string> = {
    'Content-Length with Transfer-Encoding': `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'conflicting Content-Length': `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd${smuggled}`,
    'obfuscated Transfer-Encoding': `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'Transfer-Encoding with a space before the colon': `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'bare LF line endings': `POST /upload HTTP/1.1\nHost: x\nContent-Length: 0\n\n${smuggled}`
  }
  // Access lines are batched (up to 0.1 s) but written in order: once a later request's line is
  // out, every earlier one is too.
  let markers = 0
  const whoamiLines = async (): Promise<number> => {
    const path = `/log-marker-${++markers}`
    await (await request(a.url + path)).body.dump()
    await waitFor('the marker\'s access line', () => a.lines.find((l) => l.msg === 'request' && l.path === path))
    return a.lines.filter((l) => l.msg === 'request' && l.path === '/whoami').length
  }
  for (const [what, text] of Object.entries(cases)) {
    const before = await whoamiLines()
    const out = await raw(text)
    t.match(out, /^HTTP\/1\.1 400 /, what)
    t.notMatch(out, /HTTP\/1\.1 200/, `${what}: no second response`)
    t.equal(await whoamiLines(), before, `${what}: nothing forwarded`)
  }
  const big = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(big, /^HTTP\/1\.1 431 /, 'oversized headers get 431')
})

t.test('hop-by-hop headers are dropped and X-Forwarded-* set (client values not believed)', async (t) => {
  // Raw bytes: HTTP clients refuse to send a Connection header that lists other fields.
  const { port, hostname } = new URL(a.url)
  const text = await new Promise<string>((resolve) => {
    // Written, not ended: Node drops requests of a client that half-closes before the answer.
    const socket = net.connect(Number(port), hostname, () => socket.write('GET /headers HTTP/1.1\r\nHost: public.example:8080\r\n' +
      'Connection: close, x-secret-hop\r\nx-secret-hop: 1\r\nkeep-alive: timeout=5\r\nx-forwarded-for: 6.6.6.6\r\n' +
      'x-forwarded-host: evil.example\r\npodside-session-id: forged\r\nx-end-to-end: kept\r\n\r\n'))
    let out = ''
    socket.on('data', (d) => { out += String(d) })
    socket.on('close', () => resolve(out))
  })
  const { headers } = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> }
  t.equal(headers['x-secret-hop'], undefined, 'a field named in Connection is hop-by-hop')
  t.equal(headers['keep-alive'], undefined)
  t.equal(headers['x-end-to-end'], 'kept')
  t.equal(headers.host, 'public.example:8080', 'the Host the browser used reaches the app')
  t.equal(headers['x-forwarded-for'], '127.0.0.1')
  t.equal(headers['x-forwarded-proto'], 'http')
  t.equal(headers['x-forwarded-host'], 'public.example:8080')
  t.equal(headers['podside-session-id'], undefined, 'a client cannot claim a session id')
})

t.test('Redis stopped and restarted under the gateway: 503, then recovery without a restart', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/login?user=survivor')
  // Paused (SIGSTOP): unreachable, but it still holds the session, which must not be lost.
  await redis.pause()
  const paused = await browser.get(a.url, '/whoami')
  t.equal(paused.status, 503)
  t.equal(paused.headers['retry-after'], '1')
  t.equal(paused.json.error.code, 'GW_ERR_STORE_UNAVAILABLE')
  t.equal((await request(`${a.url}/whoami`)).statusCode, 200, 'requests that need no session still pass')
  const ready = await request(`${a.adminUrl}/readyz`)
  t.equal(ready.statusCode, 503)
  await ready.body.dump()
  await redis.resume()
  const back = await waitFor('the session to answer again', async () => {
    const res = await browser.get(a.url, '/whoami')
    return res.status === 200 ? res : undefined
  })
  t.equal(back.json.user, 'survivor', 'the session Redis held is intact')

  // Killed and restarted (empty: the test server keeps nothing on disk).
  await redis.stop()
  t.equal((await browser.get(b.url, '/whoami')).status, 503)
  await redis.start()
  const relogin = await waitFor('gateway b to reconnect', async () => {
    const res = await browser.get(b.url, '/login?user=again')
    return res.status === 200 ? res : undefined
  })
  t.equal(relogin.json.loggedIn, 'again')
  t.equal((await browser.get(a.url, '/whoami')).json.user, 'again')
  t.equal(a.child.exitCode, null, 'gateway a never exited')
})

t.test('upstream down is 502 with a stable code; the gateway carries on', async (t) => {
  const dead = await startDaemon('gateway', ['--upstream', 'http://127.0.0.1:1'])
  t.teardown(async () => await dead.stop())
  const res = await request(`${dead.url}/`)
  t.equal(res.statusCode, 502)
  t.equal((await res.body.json() as { error: { code: string } }).error.code, 'GW_ERR_UPSTREAM_UNREACHABLE')
  const health = await request(`${dead.adminUrl}/healthz`)
  t.equal(health.statusCode, 200)
  await health.body.dump()
})

t.test('a client gone mid-body aborts the upstream request; nothing crashes', async (t) => {
  const { port, hostname } = new URL(a.url)
  await new Promise<void>((resolve) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000))
      setImmediate(() => { socket.destroy(); resolve() })
    })
  })
  await waitFor('the aborted request to be logged', () => a.lines.find((l) => l.msg === 'request' && l.path === '/upload' && l.aborted === true))
  t.equal((await request(`${a.url}/whoami`)).statusCode, 200)
})

t.test('logs: one JSON access line per request, never a cookie value', async (t) => {
  const browser = new Browser()
  await browser.get(a.url, '/set?name=token&value=very-secret-token-value')
  await browser.get(a.url, '/whoami')
  // The access line is written as the response closes, so it may trail the answer a little.
  const line = await waitFor('the access line of /whoami', () =>
    a.lines.find((l) => l.msg === 'request' && l.path === '/whoami' && l.session === 'loaded' && l.status === 200))
  t.match(line, { level: 30, method: 'GET', reqId: Number, ms: Number })
  t.ok(a.lines.filter((l) => l.msg === 'request').length > 10, 'one line per request')
  t.notMatch(a.output(), /very-secret-token-value/)
  t.notMatch(a.output(), new RegExp(browser.cookies.get('podside') as string))
})

t.test('SIGTERM lets requests in flight finish, then exits 0', async (t) => {
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  let arrived!: () => void
  const arrival = new Promise<void>((resolve) => { arrived = resolve })
  const slow = await serve((await import('node:http')).createServer((req, res) => {
    arrived()
    void held.then(() => res.end('finished'))
  }))
  t.teardown(async () => await slow.close())
  const gw = await startDaemon('gateway', ['--upstream', slow.url])
  const pending = request(`${gw.url}/`)
  await arrival
  const exit = gw.stop('SIGTERM')
  await waitFor('shutdown to begin', () => gw.lines.find((l) => l.msg === 'gateway shutting down'))
  release()
  const res = await pending
  t.equal(await res.body.text(), 'finished')
  t.equal(await exit, 0)
})

t.test('regression: SIGTERM with a WebSocket held open exits after the shutdown timeout', async (t) => {
  // The app never closes its side; the upgraded socket once kept the gateway alive forever.
  const stubborn = (await import('node:http')).createServer()
  const held: Array<import('node:stream').Duplex> = []
  stubborn.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: x\r\n\r\n')
    socket.on('error', () => {})
    held.push(socket)
  })
  const up = await serve(stubborn)
  t.teardown(async () => { for (const s of held) s.destroy(); await up.close() })
  const gw = await startDaemon('gateway', ['--upstream', up.url, '--shutdown-timeout', '200ms'])
  const { port, hostname } = new URL(gw.url)
  const client = net.connect(Number(port), hostname)
  client.on('error', () => {})
  client.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await new Promise((resolve) => client.once('data', resolve))
  t.equal(await gw.stop('SIGTERM'), 0)
  client.destroy()
})
