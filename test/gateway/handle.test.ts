import t, { type Test } from 'tap'
import { request } from 'undici'
import { createCookieApp } from '../../examples/cookie-app.js'
import { loadConfig } from '../../shared/load-config.js'
import { checkGatewayConfig, gatewaySettings } from '../../gateway/settings.js'
import { createGateway } from '../../gateway/server.js'
import { Browser } from '../helpers/browser.js'
import { silentLogger } from '../helpers/log.js'
import { serve } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/** The request path in-process, with time injected: timeouts are crossed without waiting. */
const app = await serve(createCookieApp())
t.teardown(async () => await app.close())

async function gateway (t: Test, args: string[] = []) {
  let now = 1_800_000_000_000
  const { values } = loadConfig(gatewaySettings, ['--upstream', app.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...args], {}, checkGatewayConfig)
  const gw = createGateway(values, { log: silentLogger(), clock: () => now })
  const urls = await gw.listen()
  t.teardown(async () => await gw.close())
  return { ...urls, advance: (ms: number) => { now += ms } }
}

t.test('idle timeout ends session-only cookies; persistent ones live on', async (t) => {
  const gw = await gateway(t, ['--idle-timeout', '15m'])
  const browser = new Browser()
  await browser.get(gw.url, '/login?user=idle')
  gw.advance(14 * 60_000)
  t.equal((await browser.get(gw.url, '/whoami')).json.user, 'idle', 'used within the idle timeout')
  gw.advance(15 * 60_000 + 1)
  const who = await browser.get(gw.url, '/whoami')
  t.equal(who.json.user, null, 'the session-only login cookie ended')
  t.match(who.json.cookie, /theme=dark/, 'the persistent cookie (Max-Age 1 year) lives on')
})

t.test('absolute timeout ends everything, persistent cookies included', async (t) => {
  const gw = await gateway(t, ['--idle-timeout', '1h', '--absolute-timeout', '1d'])
  const browser = new Browser()
  await browser.get(gw.url, '/login?user=abs')
  for (let i = 0; i < 24; i++) { gw.advance(3_600_000 - 1); t.equal((await browser.get(gw.url, '/whoami')).json.user, 'abs') }
  gw.advance(1_000) // 24 h and ~1 s after login: past the absolute timeout, within the idle one
  t.equal((await browser.get(gw.url, '/whoami')).json.user, null)
  t.equal((await browser.get(gw.url, '/whoami')).json.sessionId, null)
})

t.test('the browser cookie persists (Max-Age) once the jar holds a persistent cookie', async (t) => {
  const gw = await gateway(t, ['--absolute-timeout', '30d'])
  const browser = new Browser()
  await browser.get(gw.url, '/set?name=a&value=1')
  t.notMatch(browser.received[0], /Max-Age/, 'session-only jar: session-only browser cookie')
  await browser.get(gw.url, '/set?name=remember&value=1&max-age=86400')
  t.match(browser.received[1], /Max-Age=2592000/, 'persists to the absolute expiry')
})

t.test('passthrough cookies reach the browser verbatim and stay out of the jar', async (t) => {
  const gw = await gateway(t, ['--passthrough-cookies', 'XSRF-TOKEN'])
  const browser = new Browser()
  await browser.get(gw.url, '/set?name=XSRF-TOKEN&value=tok&path=/')
  t.same(browser.received, ['XSRF-TOKEN=tok; Path=/'])
  t.same((await browser.get(gw.url, '/whoami')).json.sessionId, null, 'no session was needed')
})

t.test('a jar cookie wins over a browser cookie of the same name; other browser cookies pass', async (t) => {
  const gw = await gateway(t)
  const browser = new Browser()
  await browser.get(gw.url, '/login?user=jar')
  browser.cookies.set('user', 'forged')
  browser.cookies.set('analytics', 'xyz')
  const who = await browser.get(gw.url, '/whoami')
  t.equal(who.json.user, 'jar')
  t.match(who.json.cookie, /analytics=xyz/)
  t.notMatch(who.json.cookie, /forged/)
})

t.test('Podside-Session headers are honoured and stripped', async (t) => {
  const gw = await gateway(t)
  const res = await new Browser().get(gw.url, '/login?user=strip')
  t.equal(res.headers['podside-session'], undefined)
  t.equal(res.headers['podside-session-user'], undefined)
})

t.test('--cookie-secure: auto follows the public scheme (trusted X-Forwarded-Proto), always and never', async (t) => {
  const untrusted = await gateway(t)
  const plain = new Browser()
  await plain.get(untrusted.url, '/set?name=a&value=1', { 'x-forwarded-proto': 'https' })
  t.notMatch(plain.received[0], /Secure/, 'an untrusted X-Forwarded-Proto is ignored')
  const trusted = await gateway(t, ['--trust-proxy'])
  const behindTls = new Browser()
  await behindTls.get(trusted.url, '/set?name=a&value=1', { 'x-forwarded-proto': 'https' })
  t.match(behindTls.received[0], /; Secure$/)
  const always = await gateway(t, ['--cookie-secure', 'always'])
  const b3 = new Browser()
  await b3.get(always.url, '/set?name=a&value=1')
  t.match(b3.received[0], /; Secure$/)
})

t.test('admin: health, metrics, 404 for unknown sessions, 405 for other methods', async (t) => {
  const gw = await gateway(t)
  await new Browser().get(gw.url, '/login?user=m')
  const get = async (path: string, method = 'GET') => {
    const r = await request(gw.adminUrl + path, { method: method as 'GET' })
    return { status: r.statusCode, text: await r.body.text() }
  }
  t.same(await get('/healthz'), { status: 200, text: '{"status":"ok"}' })
  t.equal((await get('/readyz')).status, 200)
  const metrics = (await get('/metrics')).text
  for (const name of ['podside_gateway_requests_total', 'podside_gateway_upstream_duration_seconds', 'podside_gateway_store_duration_seconds',
    'podside_gateway_store_errors_total', 'podside_gateway_sessions_created_total 1']) t.match(metrics, name)
  t.equal((await get('/v1/sessions/' + 'A'.repeat(32))).status, 404)
  t.equal((await get('/v1/sessions/not-an-id')).status, 404)
  t.equal((await get('/v1/sessions/' + 'A'.repeat(32), 'DELETE')).status, 204)
  t.equal((await get('/v1/sessions/' + 'A'.repeat(32), 'POST')).status, 405)
  t.equal((await get('/nope')).status, 404)
})

t.test('--store-failure open: Redis down, requests are proxied without the jar', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const gw = await gateway(t, ['--redis', redis.url, '--secret', 's'.repeat(32), '--store-failure', 'open', '--redis-timeout', '200ms'])
  const browser = new Browser()
  await browser.get(gw.url, '/login?user=open')
  await redis.stop()
  const res = await browser.get(gw.url, '/whoami')
  t.equal(res.status, 200)
  t.equal(res.json.user, null, 'no jar while the store is away')
  const set = await browser.get(gw.url, '/set?name=x&value=1')
  t.equal(set.status, 200)
  t.same(set.headers['set-cookie'], undefined, 'the app\'s cookies are not leaked to the browser either')
})
