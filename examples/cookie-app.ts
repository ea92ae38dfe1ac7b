import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'

/**
 * A small app that keeps its login in a cookie, as many legacy apps do: the demo's app and the
 * gateway tests' fixture. It knows nothing of podside beyond the optional response headers.
 *
 *   GET  /            a page showing who you are
 *   GET  /login?user=alice[&return=/]   sets `user` (+ Podside-Session: regenerate, Podside-Session-User)
 *   GET  /logout[?return=/]   Podside-Session: destroy
 *                     both answer JSON, or 303 back to `return` (a local path) when it is given or
 *                     the request is a browser's page load (Accept: text/html; then back to /)
 *   GET  /set?name=&value=[&path=&max-age=&domain=&secure=1]   sets one cookie
 *   GET  /whoami      JSON: the Cookie header and Podside-Session-Id the app received
 *   GET  /headers     JSON: every request header received
 *   POST /upload      counts the body's bytes as they stream in
 *   GET  /ws          WebSocket: sends one message with the Cookie header, then closes
 *   POST /_podside/tasks/count-uploads   a scheduled task (with `countUploads`): counts the files
 *                     in the uploads folder and reports it with the tick it ran for
 *   POST /_podside/tasks/warm-cache   a task fanned out to every node (with `warmCache`): reports
 *                     which node ran it
 */
export function createCookieApp (opts: { name?: string, uploads?: string, countUploads?: { dir: string, report: (line: string) => void }, warmCache?: { report: (line: string) => void } } = {}): http.Server {
  const name = opts.name ?? 'app'
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app')
    const q = url.searchParams
    switch (url.pathname) {
      case '/login': {
        const user = q.get('user') ?? 'alice'
        res.setHeader('set-cookie', [`user=${encodeURIComponent(user)}; Path=/; HttpOnly`, 'theme=dark; Path=/; Max-Age=31536000'])
        res.setHeader('podside-session', 'regenerate')
        res.setHeader('podside-session-user', user)
        const back = backTo(req, q)
        if (back !== undefined) return redirect(res, back, `logged in as ${user} on ${name}`)
        return json(res, { loggedIn: user, node: name })
      }
      case '/logout': {
        res.setHeader('podside-session', 'destroy')
        const back = backTo(req, q)
        if (back !== undefined) return redirect(res, back, `logged out on ${name}`)
        return json(res, { loggedOut: true, node: name })
      }
      case '/set': {
        let line = `${q.get('name') ?? 'c'}=${q.get('value') ?? ''}`
        if (q.has('path')) line += `; Path=${q.get('path')}`
        if (q.has('max-age')) line += `; Max-Age=${q.get('max-age')}`
        if (q.has('domain')) line += `; Domain=${q.get('domain')}`
        if (q.get('secure') === '1') line += '; Secure'
        res.setHeader('set-cookie', line)
        return json(res, { set: q.get('name'), node: name })
      }
      case '/whoami':
        return json(res, { node: name, cookie: req.headers.cookie ?? '', sessionId: req.headers['podside-session-id'] ?? null, user: userOf(req) })
      case '/headers':
        return json(res, { node: name, headers: req.headers, rawHeaders: req.rawHeaders })
      case '/_podside/tasks/count-uploads': {
        if (opts.countUploads === undefined || req.method !== 'POST') {
          res.writeHead(404, { 'content-type': 'text/plain' })
          return void res.end('not found\n')
        }
        const files = readdirSync(opts.countUploads.dir, { recursive: true, withFileTypes: true })
          .filter((f) => f.isFile() && !f.name.startsWith('.')).length
        const tick = String(req.headers['podside-task-scheduled-for'] ?? 'now')
        opts.countUploads.report(`${name} counted ${files} upload${files === 1 ? '' : 's'} (tick ${tick}, task ${String(req.headers['podside-task-id'])})`)
        req.resume()
        return json(res, { uploads: files, node: name })
      }
      case '/_podside/tasks/warm-cache': {
        if (opts.warmCache === undefined || req.method !== 'POST') {
          res.writeHead(404, { 'content-type': 'text/plain' })
          return void res.end('not found\n')
        }
        opts.warmCache.report(`${name} warmed its cache (task ${String(req.headers['podside-task-id'])})`)
        req.resume()
        return json(res, { warmed: true, node: name })
      }
      case '/upload': {
        let bytes = 0
        req.on('data', (chunk: Buffer) => { bytes += chunk.length })
        req.on('end', () => json(res, { bytes, node: name }))
        return
      }
      case '/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        return void res.end(page(name, userOf(req), opts.uploads))
      default:
        res.writeHead(404, { 'content-type': 'text/plain' })
        return void res.end('not found\n')
    }
  })
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    if (req.url !== '/ws' || req.headers['sec-websocket-key'] === undefined) { socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'); return }
    // RFC 6455 §4.2.2: the accept key proves the handshake was understood.
    const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`)
    const payload = Buffer.from(JSON.stringify({ cookie: req.headers.cookie ?? '', sessionId: req.headers['podside-session-id'] ?? null }))
    // One unmasked text frame (server to client), then a close frame (RFC 6455 §5.2).
    const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff])
    socket.write(Buffer.concat([header, payload, Buffer.from([0x88, 0x00])]))
    socket.on('error', () => {})
    // The client's answering close frame ends the connection (RFC 6455 §5.5.1: the server closes TCP).
    socket.on('data', () => socket.end())
    void head
  })
  return server
}

function userOf (req: IncomingMessage): string | null {
  const m = /(?:^|;\s*)user=([^;]*)/.exec(req.headers.cookie ?? '')
  return m === null ? null : decodeURIComponent(m[1])
}

/** Where to send the browser back to after login/logout: `return` if it is a local path, else `/` for a page load. */
function backTo (req: IncomingMessage, q: URLSearchParams): string | undefined {
  const r = q.get('return')
  if (r !== null && /^\/(?!\/)[\w\-./?=&%]*$/.test(r)) return r
  return /\btext\/html\b/.test(req.headers.accept ?? '') ? '/' : undefined
}

function redirect (res: ServerResponse, location: string, text: string): void {
  res.writeHead(303, { location, 'content-type': 'text/plain; charset=utf-8' })
  res.end(`${text}; back to ${location}\n`)
}

function json (res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function page (node: string, user: string | null, upload?: string): string {
  return `<!doctype html><meta charset="utf-8"><title>podside demo</title>
<h1>Served by ${node}</h1>${upload === undefined ? '' : `\n<p><img src="${upload}" width="64" height="64" alt="an upload"> an upload, served by the file proxies</p>`}
<p>${user === null ? 'Not logged in. <a href="/login?user=alice&amp;return=/">Log in as alice</a>' : `Logged in as <b>${user.replace(/[<&>"]/g, '')}</b>. <a href="/logout?return=/">Log out</a>`}</p>
<p>Reload: a load balancer may send you to another node; you stay logged in because the gateway keeps the app's cookies in its shared jar.</p>`
}
