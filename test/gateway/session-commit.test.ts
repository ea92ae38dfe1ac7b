import http from 'node:http'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { loadConfig } from '../../shared/load-config.js'
import { checkGatewayConfig, gatewaySettings } from '../../gateway/settings.js'
import { createGateway } from '../../gateway/server.js'
import { Browser } from '../helpers/browser.js'
import { capturingLogger } from '../helpers/log.js'
import { serve } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * What the browser and the app see after an answer that asks something of the session, through a
 * real gateway (in-process, time injected) in front of an app that answers whatever
 * `Set-Cookie` lines the request names: `/set?c=<line>&c=<line>&g=<name>:<char>:<length>`. Every request is answered with
 * the Cookie header and session id the app received.
 */
// The app accepts large request heads: Node's own 16 KiB default would refuse the rebuilt Cookie header.
const app = await serve(http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://app')
  const lines = url.searchParams.getAll('c')
  // g=<name>:<char>:<length>: a cookie too large to name in the request's URL.
  for (const g of url.searchParams.getAll('g')) {
    const [name, char, length] = g.split(':')
    lines.push(`${name}=${char.repeat(Number(length))}`)
  }
  const body = JSON.stringify({ cookie: req.headers.cookie ?? '', sessionId: req.headers['podside-session-id'] ?? null })
  res.writeHead(200, { 'content-type': 'application/json', ...(lines.length > 0 ? { 'set-cookie': lines } : {}) }).end(body)
}))
const redis = await startRedis()
t.teardown(async () => { await app.close(); await stopRedis(redis) })

async function gateway (t: Test, args: string[] = []) {
  const { log, lines } = capturingLogger()
  const { values } = loadConfig(gatewaySettings, ['--upstream', app.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...args], {}, checkGatewayConfig)
  let now = 1_800_000_000_000
  const gw = createGateway(values, { log, clock: () => now })
  const urls = await gw.listen()
  t.teardown(async () => await gw.close())
  return { ...urls, lines, advance: (ms: number) => { now += ms } }
}

const set = (...lines: string[]): string => '/set?' + lines.map((l) => 'c=' + encodeURIComponent(l)).join('&')
const stores: Array<[string, () => string[]]> = [
  ['memory', () => []],
  ['redis', () => ['--redis', redis.url, '--secret', 's'.repeat(32)]]
]

for (const [kind, storeArgs] of stores) {
  t.test(`${kind}: the app rotating PHPSESSID (its login) gives the browser a new podside id; the planted one stays anonymous`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const attacker = new Browser()
    await attacker.get(gw.url, set('PHPSESSID=anon1; Path=/'))
    const planted = attacker.cookies.get('podside') as string
    const victim = new Browser()
    victim.cookies.set('podside', planted)
    const before = await victim.get(gw.url, '/')
    t.match(before.json.cookie, /PHPSESSID=anon1/)
    await victim.get(gw.url, set('PHPSESSID=loggedin2; Path=/'))
    t.not(victim.cookies.get('podside'), planted, 'a new podside cookie was issued with the login')
    t.match((await victim.get(gw.url, '/')).json.cookie, /PHPSESSID=loggedin2/)
    gw.advance(11_000) // past the grace period of the old id
    const late = await attacker.get(gw.url, '/')
    t.notMatch(late.json.cookie, /loggedin2/, 'the planted cookie does not reach the victim\'s login')
  })

  t.test(`${kind}: --app-session-cookies '' turns the regeneration off`, async (t) => {
    const gw = await gateway(t, [...storeArgs(), '--app-session-cookies', ''])
    const b = new Browser()
    await b.get(gw.url, set('PHPSESSID=1'))
    const first = b.cookies.get('podside')
    await b.get(gw.url, set('PHPSESSID=2'))
    t.equal(b.cookies.get('podside'), first)
  })

  t.test(`${kind}: after logout deleted the persistent cookie, the podside cookie is session-only again`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    await b.get(gw.url, set('sid=1', 'remember=me; Max-Age=31536000'))
    t.match(b.received.at(-1), /^podside=.*Max-Age=\d+/)
    await b.get(gw.url, set('remember=; Max-Age=0'))
    t.match(b.received.at(-1), /^podside=/)
    t.notMatch(b.received.at(-1), /Max-Age/, 'session-only')
    t.match((await b.get(gw.url, '/')).json.cookie, /^sid=1$/, 'the session goes on')
  })

  t.test(`${kind}: the app receives one answer's cookies in the order of its Set-Cookie lines, long values too`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    const sess = 'x'.repeat(200)
    await b.get(gw.url, set(`sess=${sess}; Path=/`, 'sess.sig=abc; Path=/', 'z=1', 'a=2'))
    t.equal((await b.get(gw.url, '/')).json.cookie, `sess=${sess}; sess.sig=abc; z=1; a=2`)
    await b.get(gw.url, set(`sess=${'y'.repeat(200)}; Path=/`))
    t.equal((await b.get(gw.url, '/')).json.cookie, `sess=${'y'.repeat(200)}; sess.sig=abc; z=1; a=2`, 'a replaced cookie keeps its place')
  })

  t.test(`${kind}: SameSite of jar cookies on cross-site requests`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    await b.get(gw.url, set('strict=1; SameSite=Strict', 'lax=1; SameSite=Lax', 'plain=1'))
    const nav = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }
    t.equal((await b.get(gw.url, '/', { 'sec-fetch-site': 'same-origin' })).json.cookie, 'strict=1; lax=1; plain=1')
    t.equal((await b.get(gw.url, '/', nav)).json.cookie, 'lax=1; plain=1', 'a link from another site: no Strict cookie')
    t.equal((await b.get(gw.url, '/', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' })).json.cookie, '', 'a cross-site fetch gets neither')
    const post = await b.fetch(gw.url, '/', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: 'x' })
    t.equal(post.json.cookie, '', 'a cross-site form POST (Origin only) gets neither')
  })

  t.test(`${kind}: cookies up to 16 KiB each pass in app answers of any header size; larger ones are refused and logged`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    const r1 = await b.get(gw.url, '/set?g=big:b:16300')
    t.equal(r1.status, 200, 'one 16,300-byte cookie')
    const r2 = await b.get(gw.url, '/set?g=n1:1:9000&g=n2:2:9000')
    t.equal(r2.status, 200, 'two cookies of 9,000 bytes')
    t.equal((await b.get(gw.url, '/')).json.cookie.length, 'big='.length + 16_300 + '; n1='.length + 9000 + '; n2='.length + 9000)
    const r3 = await b.get(gw.url, `/set?g=huge:h:${17 * 1024}&c=small%3D1`)
    t.equal(r3.status, 200, 'the answer still reaches the browser')
    t.notMatch((await b.get(gw.url, '/')).json.cookie, /huge=/)
    t.match((await b.get(gw.url, '/')).json.cookie, /small=1/)
    const refused = gw.lines.find((l) => l.msg === 'set-cookie refused')
    t.equal(refused?.cookie, 'huge')
    t.notMatch(JSON.stringify(gw.lines), /hhhh/, 'the value is never logged')
  })

  t.test(`${kind}: a jar holds 200 cookies, not one more`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    const lines = Array.from({ length: 205 }, (_, i) => `c${i}=${i}`)
    await b.get(gw.url, set(...lines))
    t.equal((await b.get(gw.url, '/')).json.cookie.split('; ').length, 200)
  })
}

t.test('--cookie-samesite none: the podside cookie is SameSite=None; Secure', async (t) => {
  const gw = await gateway(t, ['--cookie-samesite', 'none'])
  const b = new Browser()
  await b.get(gw.url, set('a=1'))
  t.match(b.received[0], /; SameSite=None; Secure$/)
  const res = await request(gw.adminUrl + '/metrics')
  t.match(await res.body.text(), /podside_gateway_app_session_resets_total/)
})
