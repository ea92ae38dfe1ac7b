import http from 'node:http'
import t from 'tap'
import { Browser } from '../helpers/browser.js'
import { serve, startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * A regenerate on one gateway racing a cookie write on another, as a login page's parallel
 * requests do: two real gateway processes on one real redis-server, with the session cache on and
 * off. The app answers `/login` with a new session cookie and `Podside-Session: regenerate`,
 * `/set?n=NAME` with `Set-Cookie: NAME=1`, and every request with what it received.
 */
const SECRET = 'regenerate-race-secret-0123456789abcdef'
const TRIES = 500
const redis = await startRedis()
const app = await serve(http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://app')
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' }
  if (url.pathname === '/login') Object.assign(headers, { 'set-cookie': 'sid=in', 'podside-session': 'regenerate' })
  if (url.pathname === '/set') headers['set-cookie'] = `${url.searchParams.get('n') ?? 'x'}=1`
  res.writeHead(200, headers).end(JSON.stringify({ cookie: req.headers.cookie ?? '', sessionId: req.headers['podside-session-id'] ?? null }))
}))
t.teardown(async () => { await app.close(); await stopRedis(redis) })

const expired = (lines: string[]): boolean => lines.some((l) => /^podside=;.*Max-Age=0/.test(l))
const podsideOf = (setCookie: string | string[] | undefined): string | undefined =>
  [setCookie ?? []].flat().find((l) => l.startsWith('podside='))?.split(';')[0].slice('podside='.length)

for (const cache of ['32MiB', '0']) {
  t.test(`--session-cache-size ${cache}: a write racing a regenerate on another gateway lands in the new jar, ${TRIES} tries`, async (t) => {
    // A generous Redis timeout: this test is about the race, not about a machine too busy for 1 s.
    const args = ['--upstream', app.url, '--redis', redis.url, '--secret', SECRET, '--session-cache-size', cache, '--redis-timeout', '5s']
    const [a, b]: Daemon[] = await Promise.all([startDaemon('gateway', args), startDaemon('gateway', args)])
    t.teardown(async () => { await Promise.all([a.stop(), b.stop()]) })
    let lost = 0
    let loggedOut = 0
    let stale = 0
    const one = async (i: number): Promise<void> => {
      const browser = new Browser()
      await browser.get(a.url, '/set?n=base')
      const before = browser.received.length
      const [login, write] = await Promise.all([
        browser.get(a.url, '/login'),
        browser.get(b.url, `/set?n=w${i}`)
      ])
      if (expired(browser.received.slice(before))) loggedOut++
      if (write.json.sessionId === null) { stale++; return } // reached B after the login's answer: dropped by design
      const newId = podsideOf(login.headers['set-cookie'])
      const after = new Browser()
      after.cookies.set('podside', newId ?? '')
      const jar = (await after.get(b.url, '/')).json.cookie as string
      if (!new RegExp(`(^|; )w${i}=1(;|$)`).test(jar) || !jar.includes('sid=in')) lost++
      // The browser took both answers' cookies in the order they arrived: what it holds must work.
      const held = String((await browser.get(a.url, '/')).json?.cookie)
      if (!held.includes('sid=in')) loggedOut++
    }
    for (let i = 0; i < TRIES; i += 5) await Promise.all([0, 1, 2, 3, 4].map(async (k) => await one(i + k)))
    t.equal(loggedOut, 0, 'the podside cookie the browser holds after both answers still has the session')
    t.equal(lost, 0, 'every write in flight reached the new jar')
    t.ok(stale < TRIES / 10, `writes that arrived after the login's answer: ${stale}`)
    t.equal(a.child.exitCode, null)
  })
}

t.test('after the regenerate answered, a request with the old id gets no session, writes nothing and sets no podside cookie', async (t) => {
  const args = ['--upstream', app.url, '--redis', redis.url, '--secret', SECRET]
  const [a, b]: Daemon[] = await Promise.all([startDaemon('gateway', args), startDaemon('gateway', args)])
  t.teardown(async () => { await Promise.all([a.stop(), b.stop()]) })
  const attacker = new Browser()
  await attacker.get(a.url, '/set?n=planted')
  const victim = new Browser()
  victim.cookies.set('podside', attacker.cookies.get('podside') as string)
  const login = await victim.get(a.url, '/login')
  t.equal(login.status, 200)
  const newId = victim.cookies.get('podside')
  t.not(newId, attacker.cookies.get('podside'), 'the login gave the victim a new id')
  for (const gw of [a, b]) {
    const late = await attacker.get(gw.url, '/set?n=evil')
    t.equal(late.json.sessionId, null, 'the app is not told the victim\'s new id')
    t.notMatch(late.json.cookie, /sid=in/, 'nor given the victim\'s cookies')
    t.equal(podsideOf(late.headers['set-cookie']), undefined, 'no podside cookie is set')
  }
  const mine = await victim.get(b.url, '/')
  t.notMatch(mine.json.cookie, /evil=1/, 'nothing was written into the victim\'s jar')
  t.match(mine.json.cookie, /sid=in/)
})
