import http from 'node:http'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The peers podside is measured against, one per process: `node --import tsx peers.ts <kind> <port> <arg>`.
 *   bare <root>           node:http answering from Buffers in memory, with ETag/304 (the in-process limit)
 *   sirv <root>           sirv (what Vite/Polka serve with)
 *   fastify-static <root> @fastify/static
 *   fastify-compress <root> @fastify/static + @fastify/compress (compressed per request)
 *   fastify-precompressed <root> @fastify/static with preCompressed (.br/.gz files beside)
 *   serve-static <root>   express + serve-static
 *   upstream              the app behind the proxies: 1 KiB body; /set3 sets three cookies
 *   http-proxy <origin>   http-proxy pass-through
 *   undici-proxy <origin> a bare undici pass-through (handler API)
 */
const [kind, portText, arg = ''] = process.argv.slice(2)
const port = Number(portText)
const ready = (): void => { process.stdout.write(`listening ${port}\n`) }
// Exit cleanly on SIGINT, so `--cpu-prof` can write its profile.
process.once('SIGINT', () => process.exit(0))

switch (kind) {
  case 'bare': {
    const files = new Map<string, { body: Buffer, etag: string }>()
    for (const name of readdirSync(arg)) {
      const body = readFileSync(join(arg, name))
      files.set('/' + name, { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
    }
    http.createServer((req, res) => {
      const f = files.get((req.url ?? '/').split('?')[0])
      if (f === undefined) { res.writeHead(404).end(); return }
      if (req.headers['if-none-match'] === f.etag) { res.writeHead(304, { etag: f.etag }).end(); return }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f.body.length, etag: f.etag })
      res.end(f.body)
    }).listen(port, '127.0.0.1', ready)
    break
  }
  case 'sirv': {
    const sirv = (await import('sirv')).default
    const serve = sirv(arg, { etag: true, dev: false })
    http.createServer((req, res) => serve(req, res, () => { res.writeHead(404).end() })).listen(port, '127.0.0.1', ready)
    break
  }
  case 'fastify-static': {
    const fastify = (await import('fastify')).default({ logger: false })
    await fastify.register((await import('@fastify/static')).default, { root: arg })
    await fastify.listen({ port, host: '127.0.0.1' })
    ready()
    break
  }
  case 'fastify-compress': {
    // The usual Node setup: @fastify/compress compresses every answer as it is sent (no cache of
    // the compressed bytes), brotli at its default quality 4, gzip at zlib's default.
    const fastify = (await import('fastify')).default({ logger: false })
    await fastify.register((await import('@fastify/compress')).default, { global: true, encodings: ['br', 'gzip'] })
    await fastify.register((await import('@fastify/static')).default, { root: arg })
    await fastify.listen({ port, host: '127.0.0.1' })
    ready()
    break
  }
  case 'fastify-precompressed': {
    // @fastify/static's preCompressed: <file>.br / <file>.gz made beforehand, sent from disk.
    const fastify = (await import('fastify')).default({ logger: false })
    await fastify.register((await import('@fastify/static')).default, { root: arg, preCompressed: true })
    await fastify.listen({ port, host: '127.0.0.1' })
    ready()
    break
  }
  case 'serve-static': {
    const express = (await import('express')).default
    const app = express()
    app.use((await import('serve-static')).default(arg))
    app.listen(port, '127.0.0.1', ready)
    break
  }
  case 'upstream': {
    const body = Buffer.alloc(1024, 'x')
    http.createServer((req, res) => {
      if (req.url === '/set3') res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/', 'c=3; Path=/'])
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
      res.end(body)
    }).listen(port, '127.0.0.1', ready)
    break
  }
  case 'http-proxy': {
    const httpProxy = (await import('http-proxy')).default
    const proxy = httpProxy.createProxyServer({ target: arg, agent: new http.Agent({ keepAlive: true, maxSockets: 256 }) })
    proxy.on('error', (_err, _req, res) => { (res as http.ServerResponse).writeHead(502).end() })
    http.createServer((req, res) => proxy.web(req, res)).listen(port, '127.0.0.1', ready)
    break
  }
  case 'undici-proxy': {
    // undici's handler API (what the gateway is built on), with nothing else: the floor for a Node
    // proxy. No header filtering, no backpressure handling beyond what a 1 KiB body needs.
    const { Pool } = await import('undici')
    const pool = new Pool(arg, { connections: 256 })
    http.createServer((req, res) => {
      pool.dispatch({ method: req.method as 'GET', path: req.url ?? '/', headers: { host: req.headers.host ?? '' } }, {
        onRequestStart () {},
        onResponseStart (_c, statusCode, headers) { res.writeHead(statusCode, headers as http.OutgoingHttpHeaders) },
        onResponseData (_c, chunk) { res.write(chunk) },
        onResponseEnd () { res.end() },
        onResponseError () { if (res.headersSent) res.destroy(); else res.writeHead(502).end() }
      })
    }).listen(port, '127.0.0.1', ready)
    break
  }
  default:
    process.stderr.write(`unknown peer ${kind}\n`)
    process.exit(2)
}
