import t from 'tap'
import { captureSetCookies, jarCookieHeader, matches, type JarCookie, type PublicUrl } from '../../gateway/jar.js'

const NOW = 1_800_000_000_000
const url = (path = '/', host = 'app.example.com', secure = false): PublicUrl => ({ host, path, secure })
const opts = { passthrough: new Set<string>(['XSRF-TOKEN']), maxCookieBytes: 4096, now: NOW }
const capture = (lines: string[], u = url()) => captureSetCookies(lines, u, opts)
const only = (lines: string[], u = url()): JarCookie => {
  const c = capture(lines, u).changes[0]
  if (c?.op !== 'set') throw new Error('expected a set change')
  return c.cookie
}

t.test('jar: one cookie per Set-Cookie line, value stored verbatim', async (t) => {
  const c = capture(['a=1; Path=/', 'b="quoted, with comma"; Expires=Wed, 21 Oct 2099 07:28:00 GMT'])
  t.equal(c.changes.length, 2)
  t.match(c.changes[1], { op: 'set', cookie: { name: 'b', value: '"quoted, with comma"' } })
})

t.test('jar: Max-Age wins over Expires', async (t) => {
  t.equal(only(['a=1; Max-Age=60; Expires=Wed, 21 Oct 2015 07:28:00 GMT']).expires, NOW + 60_000)
})

t.test('jar: Max-Age=0, a negative Max-Age or a past Expires deletes the cookie', async (t) => {
  for (const line of ['a=1; Max-Age=0', 'a=1; Max-Age=-1', 'a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT']) {
    t.same(capture([line]).changes, [{ op: 'delete', domain: 'app.example.com', path: '/', name: 'a' }], line)
  }
})

t.test('jar: no Max-Age or Expires makes a session-only cookie', async (t) => {
  t.equal(only(['a=1']).expires, 0)
})

t.test('jar: attribute names are matched exactly (Max-Agee is not Max-Age)', async (t) => {
  t.equal(only(['a=1; Max-Agee=0']).expires, 0)
})

t.test('jar: default path is the request path up to its last slash (RFC 6265 §5.1.4)', async (t) => {
  t.equal(only(['a=1'], url('/shop/cart/items')).path, '/shop/cart')
  t.equal(only(['a=1'], url('/login')).path, '/')
  t.equal(only(['a=1; Path=relative'], url('/x/y')).path, '/x', 'a Path not starting with / means the default')
})

t.test('jar: Domain must domain-match the host; foreign domains and public suffixes are refused', async (t) => {
  t.match(only(['a=1; Domain=.Example.COM']), { domain: 'example.com', hostOnly: false })
  t.match(only(['a=1']), { domain: 'app.example.com', hostOnly: true })
  for (const line of ['a=1; Domain=evil.com', 'a=1; Domain=other.example.com', 'a=1; Domain=com', 'a=1; Domain=co.uk']) {
    const c = capture([line], url('/', 'app.example.co.uk'))
    t.same(c.changes, [], line)
    t.equal(c.refused.length, 1)
  }
  t.match(only(['a=1; Domain=localhost'], url('/', 'localhost')), { domain: 'localhost' }, 'a single-label host may name itself')
})

t.test('jar: Secure cookies need a secure origin (loopback counts as one, as in browsers)', async (t) => {
  t.same(capture(['a=1; Secure']).changes, [])
  t.match(only(['a=1; Secure'], url('/', 'app.example.com', true)), { secure: true })
  t.match(only(['a=1; Secure'], url('/', '127.0.0.1')), { secure: true })
})

t.test('jar: __Host- and __Secure- prefixes are enforced (RFC 6265bis §4.1.3)', async (t) => {
  const https = url('/', 'app.example.com', true)
  t.equal(capture(['__Host-a=1; Secure; Path=/'], https).changes.length, 1)
  t.equal(capture(['__Host-a=1; Secure; Path=/; Domain=example.com'], https).changes.length, 0)
  t.equal(capture(['__Host-a=1; Secure; Path=/x'], https).changes.length, 0)
  t.equal(capture(['__Secure-a=1'], https).changes.length, 0)
  t.equal(capture(['__Secure-a=1; Secure'], https).changes.length, 1)
})

t.test('jar: unparsable lines, control characters and oversized cookies are refused', async (t) => {
  const c = capture(['no-equals-sign', 'a=b\u0001c', `big=${'x'.repeat(5000)}`])
  t.same(c.changes, [])
  t.equal(c.refused.length, 3)
})

t.test('jar: passthrough cookies are relayed verbatim, not stored', async (t) => {
  const c = capture(['XSRF-TOKEN=abc; Path=/; SameSite=Strict', 'a=1'])
  t.same(c.relayed, ['XSRF-TOKEN=abc; Path=/; SameSite=Strict'])
  t.equal(c.changes.length, 1)
})

const stored = (name: string, extra: Partial<JarCookie> = {}): JarCookie =>
  ({ name, value: name.toUpperCase(), domain: 'app.example.com', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: NOW, order: 0, sameSite: 'default', ...extra })

t.test('jar: path-match (RFC 6265 §5.1.4)', async (t) => {
  const c = stored('a', { path: '/shop' })
  t.ok(matches(c, url('/shop'), NOW))
  t.ok(matches(c, url('/shop/cart'), NOW))
  t.notOk(matches(c, url('/shopping'), NOW))
  t.notOk(matches(c, url('/'), NOW))
})

t.test('jar: host-only cookies go to their exact host; domain cookies to subdomains', async (t) => {
  t.notOk(matches(stored('a'), url('/', 'sub.app.example.com'), NOW))
  t.ok(matches(stored('a', { domain: 'example.com', hostOnly: false }), url('/', 'sub.example.com'), NOW))
  t.notOk(matches(stored('a', { domain: 'example.com', hostOnly: false }), url('/', 'example.org'), NOW))
})

t.test('jar: expired cookies and Secure cookies over http are not sent', async (t) => {
  t.notOk(matches(stored('a', { expires: NOW }), url(), NOW))
  t.ok(matches(stored('a', { expires: NOW + 1 }), url(), NOW))
  t.notOk(matches(stored('a', { secure: true }), url(), NOW))
  t.ok(matches(stored('a', { secure: true }), url('/', 'app.example.com', true), NOW))
})

t.test('jar: longer paths first, then older first (RFC 6265 §5.4 step 2)', async (t) => {
  const jar = [stored('root2', { created: NOW + 2 }), stored('deep', { path: '/a/b' }), stored('root1', { created: NOW + 1 }), stored('mid', { path: '/a' })]
  t.equal(jarCookieHeader(jar, url('/a/b/c'), NOW).header, 'deep=DEEP; mid=MID; root1=ROOT1; root2=ROOT2')
})

t.test('jar: cookies of one answer keep the order of its Set-Cookie lines (cookie-session: sess, then sess.sig)', async (t) => {
  const c = capture(['sess=' + 'x'.repeat(100), 'sess.sig=' + 'y'.repeat(27)])
  const jar = c.changes.map((ch) => ch.op === 'set' ? ch.cookie : undefined).filter((x) => x !== undefined).reverse()
  t.same(jar.map((x) => x.order), [1, 0])
  t.match(jarCookieHeader(jar, url(), NOW).header, /^sess=x+; sess\.sig=y+$/)
})

t.test('jar: SameSite is kept from the Set-Cookie line; none given is "default"', async (t) => {
  t.equal(only(['a=1; SameSite=Strict']).sameSite, 'strict')
  t.equal(only(['a=1; samesite=lax']).sameSite, 'lax')
  t.equal(only(['a=1; SameSite=None; Secure'], url('/', 'app.example.com', true)).sameSite, 'none')
  t.equal(only(['a=1']).sameSite, 'default')
  t.equal(only(['a=1; SameSite=bogus']).sameSite, 'default')
})

t.test('jar: SameSite=None without Secure is refused, as browsers do', async (t) => {
  t.same(capture(['a=1; SameSite=None']).refused, [{ name: 'a', reason: 'SameSite=None without Secure' }])
})

t.test('jar: on a cross-site request Strict is left out, Lax only on a safe top-level navigation (RFC 6265bis §5.8.3)', async (t) => {
  const strict = stored('s', { sameSite: 'strict' })
  const lax = stored('l', { sameSite: 'lax' })
  const none = stored('n', { sameSite: 'none' })
  const unset = stored('d', { sameSite: 'default' })
  for (const c of [strict, lax, none, unset]) t.ok(matches(c, url(), NOW, 'same-site'), `${c.sameSite} same-site`)
  t.same([strict, lax, none, unset].map((c) => matches(c, url(), NOW, 'cross-site-navigation')), [false, true, true, true])
  t.same([strict, lax, none, unset].map((c) => matches(c, url(), NOW, 'cross-site')), [false, false, true, false])
  t.equal(jarCookieHeader([strict, lax, none], url(), NOW, 'cross-site').header, 'n=N')
})

t.test('jar: SameSite=None cookies cross sites only when the podside cookie does too (DESIGN: --cookie-samesite none)', async (t) => {
  const none = stored('n', { sameSite: 'none' })
  t.notOk(matches(none, url(), NOW, 'cross-site-navigation', false), 'a Lax podside cookie: withheld even on a navigation')
  t.notOk(matches(none, url(), NOW, 'cross-site', false))
  t.ok(matches(none, url(), NOW, 'cross-site', true))
  t.ok(matches(none, url(), NOW, 'same-site', false), 'same-site requests are not affected')
})
