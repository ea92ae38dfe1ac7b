import t from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import { siteContext } from '../../gateway/same-site.js'

const url = { host: 'shop.example.co.uk', path: '/', secure: true }
const ctx = (headers: IncomingHttpHeaders, method = 'GET') => siteContext(headers, method, url)
const navigate = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }

t.test('Fetch Metadata: same-origin, same-site and none (typed URL, bookmark) are same-site', async (t) => {
  for (const site of ['same-origin', 'same-site', 'none']) t.equal(ctx({ 'sec-fetch-site': site, ...navigate }), 'same-site', site)
})

t.test('Fetch Metadata: a cross-site top-level navigation with a safe method', async (t) => {
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', ...navigate }), 'cross-site-navigation')
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }), 'cross-site-navigation', 'no Sec-Fetch-Dest')
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', ...navigate }, 'HEAD'), 'cross-site-navigation')
})

t.test('Fetch Metadata: a cross-site POST navigation, a frame or a subresource is plain cross-site', async (t) => {
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', ...navigate }, 'POST'), 'cross-site', 'unsafe method')
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' }), 'cross-site', 'nested frame')
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }), 'cross-site', 'fetch()')
  t.equal(ctx({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' }), 'cross-site', 'an image')
})

t.test('Fetch Metadata wins over Origin', async (t) => {
  t.equal(ctx({ 'sec-fetch-site': 'same-site', origin: 'https://evil.example' }, 'POST'), 'same-site')
})

t.test('without Fetch Metadata, Origin decides (schemeful, by registrable domain)', async (t) => {
  t.equal(ctx({}, 'POST'), 'same-site', 'neither header: an older browser or a script')
  t.equal(ctx({ origin: 'https://www.example.co.uk' }, 'POST'), 'same-site', 'another host of the same registrable domain')
  t.equal(ctx({ origin: 'https://shop.example.co.uk:8443' }, 'POST'), 'same-site', 'another port')
  t.equal(ctx({ origin: 'https://evil.co.uk' }, 'POST'), 'cross-site', 'another registrable domain under the same public suffix')
  t.equal(ctx({ origin: 'http://shop.example.co.uk' }, 'POST'), 'cross-site', 'another scheme')
  t.equal(ctx({ origin: 'null' }, 'POST'), 'cross-site', 'an opaque origin')
  t.equal(ctx({ origin: 'https://evil.example' }, 'GET'), 'cross-site', 'a GET with Origin is a CORS request, not a navigation')
  t.equal(ctx({ origin: '::not a url' }, 'POST'), 'cross-site')
})

t.test('IP addresses and localhost compare as whole hosts', async (t) => {
  const local = { host: '127.0.0.1', path: '/', secure: false }
  t.equal(siteContext({ origin: 'http://127.0.0.1:3000' }, 'POST', local), 'same-site')
  t.equal(siteContext({ origin: 'http://127.0.0.2' }, 'POST', local), 'cross-site')
  t.equal(siteContext({ origin: 'http://localhost:8080' }, 'POST', { host: 'localhost', path: '/', secure: false }), 'same-site')
})
