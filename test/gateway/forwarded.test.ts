import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { clientView, hostName, requestPath } from '../../gateway/forwarded.js'

const req = (headers: Record<string, string>, url = '/a/b?x=1'): IncomingMessage =>
  ({ headers, url, socket: { remoteAddress: '10.1.1.1', encrypted: false } }) as unknown as IncomingMessage

t.test('host names lose port and brackets, and are lower-cased', async (t) => {
  t.same(['App.Example.com:8080', '[::1]:8080', '127.0.0.1', ''].map(hostName), ['app.example.com', '::1', '127.0.0.1', ''])
})

t.test('the path leaves out the query; absolute-form targets are reduced to their path', async (t) => {
  t.same(['/a/b?x=1', '/', 'http://h/p/q?z', 'garbage'].map(requestPath), ['/a/b', '/', '/p/q', '/'])
})

t.test('without --trust-proxy, client X-Forwarded-* are ignored', async (t) => {
  const v = clientView(req({ host: 'shop.example', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil', 'x-forwarded-for': '6.6.6.6' }), false)
  t.same(v, { url: { host: 'shop.example', path: '/a/b', secure: false }, proto: 'http', host: 'shop.example', forwardedFor: '10.1.1.1', site: 'same-site', trusted: false, noneCrossSite: false })
})

t.test('with --trust-proxy, the first X-Forwarded-Proto/Host win and the chain is extended', async (t) => {
  const v = clientView(req({ host: 'internal:8080', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'Shop.Example', 'x-forwarded-for': '1.2.3.4, 5.6.7.8' }), true)
  t.same(v, { url: { host: 'shop.example', path: '/a/b', secure: true }, proto: 'https', host: 'Shop.Example', forwardedFor: '1.2.3.4, 5.6.7.8, 10.1.1.1', site: 'same-site', trusted: true, noneCrossSite: false })
})
