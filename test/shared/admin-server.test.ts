import t from 'tap'
import { Registry } from 'prom-client'
import { request } from 'undici'
import { createAdminServer } from '../../shared/admin-server.js'
import { silentLogger } from '../helpers/log.js'
import { serve } from '../helpers/processes.js'

const TOKEN = 'a-token-of-enough-length'

async function admin (opts: { token?: string, draining?: () => boolean } = {}) {
  const server = createAdminServer({
    log: silentLogger(),
    registry: new Registry(),
    ready: async () => {},
    routes: async (_req, res, url) => {
      if (url.pathname !== '/v1/thing') return false
      res.writeHead(200).end('thing')
      return true
    },
    ...opts
  })
  const s = await serve(server)
  t.teardown(async () => await s.close())
  return s.url
}

async function get (url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

t.test('with --admin-token, /v1/* needs the bearer token: 401 without it or with a wrong one', async (t) => {
  const url = await admin({ token: TOKEN })
  const none = await get(`${url}/v1/thing`)
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer')
  t.match(JSON.parse(none.text), { error: { code: 'ADMIN_ERR_UNAUTHORIZED' } })
  t.equal((await get(`${url}/v1/thing`, { authorization: 'Bearer wrong-token' })).status, 401)
  t.equal((await get(`${url}/v1/thing`, { authorization: `Basic ${TOKEN}` })).status, 401)
  t.equal((await get(`${url}/v1/nope`, { authorization: 'Bearer x' })).status, 401, 'unknown /v1 paths reveal nothing either')
  t.same(await get(`${url}/v1/thing`, { authorization: `Bearer ${TOKEN}` }).then((r) => [r.status, r.text]), [200, 'thing'])
  t.equal((await get(`${url}/v1/thing`, { authorization: `bearer ${TOKEN}` })).status, 200, 'the scheme is case-insensitive (RFC 9110 §11.1)')
})

t.test('health, readiness and metrics never need the token', async (t) => {
  const url = await admin({ token: TOKEN })
  for (const path of ['/healthz', '/readyz', '/metrics']) t.equal((await get(url + path)).status, 200, path)
})

t.test('without a token the API is open (loopback listeners only: the settings refuse anything else)', async (t) => {
  const url = await admin()
  t.equal((await get(`${url}/v1/thing`)).status, 200)
})

t.test('/readyz answers 503 from the moment the daemon drains', async (t) => {
  let draining = false
  const url = await admin({ draining: () => draining })
  t.equal((await get(`${url}/readyz`)).status, 200)
  draining = true
  const r = await get(`${url}/readyz`)
  t.equal(r.status, 503)
  t.match(JSON.parse(r.text), { status: 'unavailable', reason: 'shutting down' })
  t.equal((await get(`${url}/healthz`)).status, 200, 'still alive')
})


t.test('a request target no URL parser takes is a 400, not a crash (found by the fuzz: OPTIONS /\\)', async (t) => {
  const url = await admin({ token: TOKEN })
  const { hostname, port } = new URL(url)
  const net = await import('node:net')
  for (const target of ['/\\', '//', '/\\\\x']) {
    const status = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(port), hostname, () => s.write(`OPTIONS ${target} HTTP/1.1\r\nHost: a\r\n\r\n`))
      let got = ''
      s.on('data', (d) => { got += String(d); if (got.includes('\r\n')) { s.destroy(); resolve(got.split('\r\n')[0]) } })
      s.on('error', reject)
    })
    t.match(status, /^HTTP\/1\.1 (400|404) /, target)
  }
  t.equal((await get(`${url}/healthz`)).status, 200, 'still answering')
})
