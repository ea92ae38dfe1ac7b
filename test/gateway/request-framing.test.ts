import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { hasCode } from '../../shared/errors.js'
import { checkFraming } from '../../gateway/request-framing.js'
import { serve, startDaemon } from '../helpers/processes.js'
import http from 'node:http'
import net from 'node:net'
import { request } from 'undici'

const withTe = (te?: string): IncomingMessage => ({ url: '/', rawHeaders: ['Host', 'h'], headers: te === undefined ? {} : { 'transfer-encoding': te } }) as unknown as IncomingMessage
const refused = (te: string): boolean => { try { checkFraming(withTe(te)); return false } catch (err) { return hasCode(err, 'GW_ERR_BAD_REQUEST') } }

t.test('Transfer-Encoding must end in chunked, once (RFC 9112 §6.1)', async (t) => {
  t.doesNotThrow(() => checkFraming(withTe()))
  t.doesNotThrow(() => checkFraming(withTe('chunked')))
  t.doesNotThrow(() => checkFraming(withTe('gzip, chunked')))
  for (const te of ['xchunked', 'chunked, gzip', 'identity', 'chunked, chunked', 'chunked ,x']) t.ok(refused(te), te)
})

/** Sends raw bytes to `url`'s port and returns the status line of the answer. */
async function raw (url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text))
    let got = ''
    socket.on('data', (d) => { got += String(d); if (got.includes('\r\n')) { socket.destroy(); resolve(got.split('\r\n')[0]) } })
    socket.on('error', reject)
  })
}

t.test('malformed requests get a 4xx and at most a warning, never a 5xx', async (t) => {
  const app = await serve(http.createServer((_req, res) => res.end('app')))
  const gw = await startDaemon('gateway', ['--upstream', app.url])
  t.teardown(async () => { await gw.stop(); await app.close() })
  t.match(await raw(gw.url, 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'), /^HTTP\/1\.1 400 /, 'two Host headers (RFC 9112 §3.2)')
  t.match(await raw(gw.url, 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n'), /^HTTP\/1\.1 400 /, 'OPTIONS *')
  for (const path of ['/v1/sessions/%E0%A4%A', '/v1/users/%ZZ/sessions']) {
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await request(gw.adminUrl + path, { method })
      await res.body.text()
      t.equal(res.statusCode, 400, `${method} ${path}`)
    }
  }
  const levels = gw.lines.filter((l) => typeof l.level === 'number' && (l.level as number) >= 50)
  t.same(levels, [], 'nothing logged at error level')
})

t.test('a Host header that is not a host is refused (RFC 9110 §7.2)', async (t) => {
  const withHost = (host: string): IncomingMessage => ({ url: '/', rawHeaders: ['Host', host], headers: { host } }) as unknown as IncomingMessage
  for (const host of ['[::1', '[', '[,oPX', 'a b', 'a/b', 'a@b']) {
    t.throws(() => checkFraming(withHost(host)), { code: 'GW_ERR_BAD_REQUEST' }, host)
  }
  for (const host of ['example.com', 'example.com:8080', '[::1]:8080', '127.0.0.1', 'xn--bcher-kva.example', '']) {
    t.doesNotThrow(() => checkFraming(withHost(host)), host)
  }
})
