import { createHash } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { Client, request } from 'undici'
import { createUpstream, type Head, type OnHead } from '../../gateway/proxy.js'
import { guardedConnector, parserOf } from '../../gateway/upstream-eof-guard.js'
import { serve } from '../helpers/processes.js'

/**
 * Regressions for nodejs/undici#5360: the app closing its connection while the gateway holds the
 * answer paused used to end the process from inside undici (an uncatchable assertion). A crash
 * here fails this whole file.
 */

/** A raw app that answers `answer(n)` to its n-th request, then closes, and says when it closed. */
async function rawApp (answer: (n: number) => Buffer | string) {
  let n = 0
  const closed: Array<() => void> = []
  const finished: Array<() => void> = []
  const server = net.createServer((socket) => {
    socket.once('data', () => { socket.end(answer(n++)) })
    socket.on('finish', () => { finished.shift()?.() })
    socket.on('close', () => { closed.shift()?.() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => await new Promise<void>((resolve) => server.close(() => resolve())))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Resolves when the app's next connection has closed. */
    nextClose: async () => await new Promise<void>((resolve) => closed.push(resolve)),
    /** Resolves when the app's next answer and its FIN have been handed to the OS. */
    nextFinish: async () => await new Promise<void>((resolve) => finished.push(resolve))
  }
}

/** The gateway's upstream in front of `appUrl`; `onHead` decides the browser's head. */
async function proxy (appUrl: string, onHead: OnHead) {
  const upstream = createUpstream({ origin: new URL(appUrl), timeoutMs: 10_000, maxHeaderBytes: 64 * 1024 })
  const server = await serve(http.createServer((req, res) => {
    upstream.forward(req, res, ['host', 'app'], onHead).catch(() => { if (!res.headersSent) res.writeHead(502).end() })
  }))
  t.teardown(async () => { await server.close(); await upstream.close() })
  return server.url
}

const headOf = (statusCode: number, headers: http.IncomingHttpHeaders): Head =>
  ({ statusCode, headers: headers['content-length'] === undefined ? [] : ['content-length', String(headers['content-length'])] })

t.test('a 303 with Connection: close and no body, held until the app has closed, reaches the browser', async (t) => {
  const app = await rawApp(() => 'HTTP/1.1 303 See Other\r\nConnection: close\r\nLocation: /\r\nContent-Length: 0\r\nSet-Cookie: a=1; Path=/\r\n\r\n')
  const closed = app.nextClose()
  // The head is held (as while the jar is stored) until the app's FIN has reached the gateway.
  const url = await proxy(app.url, async (status, headers) => { await closed; await new Promise((resolve) => setImmediate(resolve)); return headOf(status, headers) })
  const res = await request(url)
  t.equal(res.statusCode, 303)
  t.equal(await res.body.text(), '')
})

t.test('an HTTP/1.0 body delimited by the close, held until the app has closed, arrives whole', async (t) => {
  const app = await rawApp(() => 'HTTP/1.0 200 OK\r\nSet-Cookie: a=1\r\n\r\nhello, until the close')
  // The body waits unread in the socket, so the FIN cannot surface before the parser resumes;
  // the head is still held past the FIN's arrival, as a jar write would hold it.
  const finished = app.nextFinish()
  const url = await proxy(app.url, async (status) => { await finished; await new Promise((resolve) => setTimeout(resolve, 20)); return { statusCode: status, headers: [] } })
  const res = await request(url)
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), 'hello, until the close')
})

t.test('Connection: close bodies reach a slow browser whole, whatever chunk the app\'s FIN follows', async (t) => {
  // Sizes around the socket buffers, so that some runs pause the parser on the body's last chunk.
  for (const size of [64 * 1024, 200 * 1024, 1024 * 1024 + 7]) {
    const body = Buffer.alloc(size, 'b')
    const app = await rawApp(() => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${size}\r\n\r\n`), body]))
    const url = await proxy(app.url, headOf)
    const res = await request(url, { highWaterMark: 1024 })
    const hash = createHash('sha256')
    let bytes = 0
    for await (const part of res.body) {
      hash.update(part as Buffer)
      bytes += (part as Buffer).length
      await new Promise((resolve) => setImmediate(resolve)) // a slow reader: the gateway's writes back up
    }
    t.equal(bytes, size, `${size} bytes`)
    t.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'))
  }
})

t.test('an app that resets the connection while the head is held gives an error, not a crash', async (t) => {
  let sockets = 0
  const server = net.createServer((socket) => {
    sockets++
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\nSet-Cookie: a=1\r\n\r\nhalf')
      setImmediate(() => socket.resetAndDestroy())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => await new Promise<void>((resolve) => server.close(() => resolve())))
  const url = await proxy(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async (status, headers) => { await new Promise((resolve) => setTimeout(resolve, 20)); return headOf(status, headers) })
  const res = await request(url)
  const body = await res.body.text().catch(() => 'cut')
  t.ok(res.statusCode === 502 || body !== 'x'.repeat(100), `answered ${res.statusCode} without the full body`)
  t.equal(sockets, 1)
})

t.test('the guard finds undici\'s parser on the sockets it guards (fails if an undici upgrade moved it)', async (t) => {
  const app = await serve(http.createServer((_req, res) => res.end('ok')))
  t.teardown(async () => await app.close())
  const guarded = guardedConnector()
  const sockets: net.Socket[] = []
  const client = new Client(app.url, {
    connect: (opts, callback) => guarded(opts, (err, socket) => {
      if (socket !== null) sockets.push(socket as net.Socket)
      callback(err as Error, socket as never)
    })
  })
  t.teardown(async () => await client.close())
  const res = await client.request({ method: 'GET', path: '/' })
  t.equal(sockets.length, 1)
  t.ok(parserOf(sockets[0]) !== undefined, 'undici\'s parser is where the guard reads it')
  t.equal(typeof parserOf(sockets[0])?.execute, 'function')
  t.equal(await res.body.text(), 'ok')
})

t.test('a refused connection reaches undici as an error, with no socket to guard', async (t) => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve())) // nothing listens there now
  const err = await new Promise<Error | null>((resolve) => {
    guardedConnector()({ hostname: '127.0.0.1', host: '127.0.0.1', protocol: 'http:', port: String(port), servername: null, localAddress: null, httpSocket: undefined } as never,
      (...args) => resolve(args[0]))
  })
  t.match(err, { code: 'ECONNREFUSED' })
})
