import { createHash } from 'node:crypto'
import http from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { createUpstream, type OnHead } from '../../gateway/proxy.js'
import { serve } from '../helpers/processes.js'

/** The app: `/big` streams 32 MiB in 64 KiB writes, honouring backpressure; anything else is 'hello'. */
const SIZE = 32 * 1024 * 1024
const chunk = Buffer.alloc(64 * 1024, 'z')
const expected = createHash('sha256').update(Buffer.concat(Array.from({ length: SIZE / chunk.length }, () => chunk))).digest('hex')
const app = await serve(http.createServer((req, res) => {
  if (req.url !== '/big') { res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'a=1' }).end('hello'); return }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE })
  let sent = 0
  const more = (): void => {
    while (sent < SIZE) {
      sent += chunk.length
      if (!res.write(chunk)) { res.once('drain', more); return }
    }
    res.end()
  }
  more()
}))
t.teardown(async () => await app.close())

/** A proxy in front of the app whose browser head `onHead` decides. */
async function proxy (onHead: OnHead) {
  const upstream = createUpstream({ origin: new URL(app.url), timeoutMs: 10_000, maxHeaderBytes: 64 * 1024 })
  const failures: unknown[] = []
  const server = await serve(http.createServer((req, res) => {
    upstream.forward(req, res, ['host', 'app'], onHead).catch((err: unknown) => {
      failures.push(err)
      res.writeHead(502).end()
    })
  }))
  t.teardown(async () => { await server.close(); await upstream.close() })
  return { url: server.url, failures }
}

const pass: OnHead = (statusCode, headers) => ({ statusCode, headers: ['content-type', String(headers['content-type']), 'content-length', String(headers['content-length'])] })

async function download (url: string): Promise<{ status: number, sha: string, bytes: number }> {
  const res = await request(url)
  const hash = createHash('sha256')
  let bytes = 0
  // Read slowly enough for the proxy's socket to fill, so the app is paused and resumed.
  for await (const part of res.body) {
    hash.update(part as Buffer)
    bytes += (part as Buffer).length
    if (bytes % (4 * 1024 * 1024) < (part as Buffer).length) await new Promise((resolve) => setImmediate(resolve))
  }
  return { status: res.statusCode, sha: hash.digest('hex'), bytes }
}

t.test('a head decided at once: a large body streams through whole, with backpressure', async (t) => {
  const p = await proxy(pass)
  t.same(await download(`${p.url}/big`), { status: 200, sha: expected, bytes: SIZE })
})

t.test('a head decided later: chunks that arrive meanwhile are held, then the body goes through whole', async (t) => {
  const p = await proxy(async (statusCode, headers) => {
    // Long enough for the app's first chunks to reach the gateway before the head is decided.
    await new Promise((resolve) => setTimeout(resolve, 50))
    return pass(statusCode, headers)
  })
  t.same(await download(`${p.url}/big`), { status: 200, sha: expected, bytes: SIZE })
})

t.test('the browser gets the head onHead decided, not the app\'s', async (t) => {
  const p = await proxy((statusCode) => ({ statusCode: statusCode + 1, headers: ['x-decided', 'yes'] }))
  const res = await request(`${p.url}/`)
  t.equal(res.statusCode, 201)
  t.equal(res.headers['x-decided'], 'yes')
  t.equal(res.headers['set-cookie'], undefined, 'only what onHead returned')
  t.equal(await res.body.text(), 'hello')
})

t.test('an onHead that throws fails the exchange with its own error, before anything is sent', async (t) => {
  const p = await proxy(() => { throw Object.assign(new Error('no head'), { code: 'TEST_NO_HEAD' }) })
  const res = await request(`${p.url}/`)
  await res.body.dump()
  t.equal(res.statusCode, 502, 'the caller answered; the app\'s head never reached the browser')
  t.match(p.failures, [{ code: 'TEST_NO_HEAD' }])
})

t.test('an onHead that rejects fails the exchange with its own error too', async (t) => {
  const p = await proxy(async () => { throw Object.assign(new Error('store down'), { code: 'TEST_REJECTED' }) })
  const res = await request(`${p.url}/`)
  await res.body.dump()
  t.equal(res.statusCode, 502)
  t.match(p.failures, [{ code: 'TEST_REJECTED' }])
})
