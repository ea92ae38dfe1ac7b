import t from 'tap'
import { appCookieHeader } from '../../gateway/app-cookie.js'
import type { JarCookie, PublicUrl } from '../../gateway/jar.js'

const NOW = 1_800_000_000_000
const url = (path = '/', host = 'app.example.com', secure = false): PublicUrl => ({ host, path, secure })
const cookie = (name: string, extra: Partial<JarCookie> = {}): JarCookie =>
  ({ name, value: name.toUpperCase(), domain: 'app.example.com', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: NOW, order: 0, sameSite: 'default', ...extra })

t.test('jar cookies first, then the browser\'s own; a jar cookie wins over a browser cookie of its name', async (t) => {
  const jar = [cookie('a'), cookie('b')]
  t.equal(appCookieHeader(jar, [{ name: 'b', pair: 'b=browser' }, { name: 'c', pair: 'c=3' }], url(), NOW), 'a=A; b=B; c=3')
  t.equal(appCookieHeader(undefined, [{ name: 'c', pair: 'c=3' }], url(), NOW), 'c=3', 'no session: the browser\'s cookies alone')
  t.equal(appCookieHeader([], [], url(), NOW), '')
})

// The same jar (one cached session) serves many requests: what it sends must still follow each
// request's URL and the time, whatever was built for the request before.
t.test('the same jar answers each path by its own cookies\' paths', async (t) => {
  const jar = [cookie('root'), cookie('deep', { path: '/admin' })]
  t.equal(appCookieHeader(jar, [], url('/admin/users'), NOW), 'deep=DEEP; root=ROOT')
  t.equal(appCookieHeader(jar, [], url('/shop'), NOW), 'root=ROOT')
  t.equal(appCookieHeader(jar, [], url('/admin'), NOW), 'deep=DEEP; root=ROOT')
})

t.test('the same jar answers each host and scheme by its own rules', async (t) => {
  const jar = [cookie('host'), cookie('wide', { domain: 'example.com', hostOnly: false }), cookie('sec', { secure: true })]
  t.equal(appCookieHeader(jar, [], url('/', 'app.example.com', true), NOW), 'host=HOST; wide=WIDE; sec=SEC')
  t.equal(appCookieHeader(jar, [], url('/', 'app.example.com', false), NOW), 'host=HOST; wide=WIDE', 'no Secure cookie over http')
  t.equal(appCookieHeader(jar, [], url('/', 'api.example.com', false), NOW), 'wide=WIDE', 'host-only cookies stay with their host')
  t.equal(appCookieHeader(jar, [], url('/', 'api.example.com', true), NOW), 'wide=WIDE')
})

t.test('the same jar stops sending a cookie the moment it expires', async (t) => {
  const jar = [cookie('short', { expires: NOW + 1000 }), cookie('long', { expires: NOW + 60_000 })]
  t.equal(appCookieHeader(jar, [], url(), NOW), 'short=SHORT; long=LONG')
  t.equal(appCookieHeader(jar, [], url(), NOW + 999), 'short=SHORT; long=LONG')
  t.equal(appCookieHeader(jar, [], url(), NOW + 1000), 'long=LONG')
  t.equal(appCookieHeader(jar, [], url(), NOW + 60_000), '')
})

t.test('a browser cookie named like a jar cookie that no longer matches is passed on', async (t) => {
  const jar = [cookie('deep', { path: '/admin' })]
  t.equal(appCookieHeader(jar, [{ name: 'deep', pair: 'deep=browser' }], url('/admin'), NOW), 'deep=DEEP')
  t.equal(appCookieHeader(jar, [{ name: 'deep', pair: 'deep=browser' }], url('/shop'), NOW), 'deep=browser')
})
