import t, { type Test } from 'tap'
import net from 'node:net'
import { Agent, request } from 'undici'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * "Any upstream shape is proxied without harm to the process": a raw TCP app answers each request
 * path with one exact byte shape (bodiless answers, bodies delimited by the close, Connection:
 * close right after the head, resets and closes at every point), behind a real gateway process,
 * in each store configuration, without and with a session. Every shape but the reset before any
 * byte carries a Set-Cookie, so the gateway is writing the jar when the app's connection ends.
 * After every case the process must still be running and answer /healthz.
 */
const SECRET = 'upstream-shapes-secret-0123456789abcdef'
const BIG = Buffer.alloc(200 * 1024)
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 10)) & 0xff
const HTTP10_BODY = 'a body delimited by the close of an HTTP/1.0 answer\n'.repeat(40)
const HALF = 'h'.repeat(500)

/** How far the app got writing a request's answer, by the request's `id` query parameter. */
const progress = new Map<string, { ended: boolean, blocked: boolean }>()

type Shape = (socket: net.Socket, id: string) => void

const shapes: Record<string, Shape> = {
  /** Well behaved: how a test obtains a podside cookie before the case proper. */
  '/ok': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: base=1; Path=/\r\n\r\nok'),
  /** The original crash: PHP's built-in server answering a login. */
  '/see-other-close': (s) => s.end('HTTP/1.1 303 See Other\r\nConnection: close\r\nLocation: /\r\nContent-Length: 0\r\nSet-Cookie: a=1; Path=/\r\n\r\n'),
  '/no-content': (s) => s.write('HTTP/1.1 204 No Content\r\nSet-Cookie: a=204; Path=/\r\n\r\n'),
  '/not-modified': (s) => s.write('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nSet-Cookie: a=304; Path=/\r\n\r\n'),
  /** Asked with HEAD: the length of the body a GET would get, and no body. */
  '/head': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nSet-Cookie: a=head; Path=/\r\n\r\n'),
  '/empty': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: a=0; Path=/\r\n\r\n'),
  '/http10': (s) => s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=10; Path=/\r\n\r\n' + HTTP10_BODY),
  '/close-big': (s, id) => {
    const state = { ended: false, blocked: false }
    progress.set(id, state)
    s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nSet-Cookie: a=big; Path=/\r\n\r\n')
    if (!s.write(BIG)) state.blocked = true
    s.end()
    s.once('finish', () => { state.ended = true })
  },
  '/reset-before': (s) => s.resetAndDestroy(),
  '/reset-after-head': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nSet-Cookie: a=rh; Path=/\r\n\r\n', () => s.resetAndDestroy()),
  '/reset-mid-body': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nSet-Cookie: a=rm; Path=/\r\n\r\n' + HALF, () => s.resetAndDestroy()),
  '/close-mid-body': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nSet-Cookie: a=cm; Path=/\r\n\r\n' + HALF)
}

/** The raw app: keep-alive, GET/HEAD without bodies, one answer per request head. */
const appSockets = new Set<net.Socket>()
const app = net.createServer((socket) => {
  appSockets.add(socket)
  socket.on('close', () => appSockets.delete(socket))
  socket.on('error', () => {})
  let buf = Buffer.alloc(0)
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    for (let end = buf.indexOf('\r\n\r\n'); end !== -1 && !socket.destroyed && socket.writable; end = buf.indexOf('\r\n\r\n')) {
      const [, target = '/'] = buf.subarray(0, end).toString('latin1').split(' ')
      buf = buf.subarray(end + 4)
      const url = new URL(target, 'http://app')
      const shape = shapes[url.pathname]
      if (shape === undefined) socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
      else shape(socket, url.searchParams.get('id') ?? '')
    }
  })
})
await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
const appUrl = `http://127.0.0.1:${(app.address() as net.AddressInfo).port}`
// A connection the app left half-open (a shape that never ends its answer) would hold close() forever.
t.teardown(async () => { for (const s of appSockets) s.destroy(); await new Promise<void>((resolve) => app.close(() => resolve())) })

const redis = await startRedis()
t.teardown(async () => await stopRedis(redis))

type Outcome =
  | { kind: 'complete', status: number, headers: Record<string, unknown>, body: Buffer }
  | { kind: 'cut', status: number, error: string }
  | { kind: 'no answer', error: string }

/** One request to the gateway; `beforeReading` runs between the head and reading the body. */
async function send (url: string, opts: { method?: 'GET' | 'HEAD', cookie?: string, beforeReading?: () => Promise<void> } = {}): Promise<Outcome> {
  // A connection of its own: what the client sees never depends on a connection an earlier case left.
  const dispatcher = new Agent()
  try {
    let res
    try {
      res = await request(url, { dispatcher, method: opts.method ?? 'GET', headers: opts.cookie === undefined ? {} : { cookie: opts.cookie } })
    } catch (err) {
      return { kind: 'no answer', error: (err as Error).message }
    }
    try {
      await opts.beforeReading?.()
      const body = Buffer.from(await res.body.arrayBuffer())
      return { kind: 'complete', status: res.statusCode, headers: res.headers, body }
    } catch (err) {
      return { kind: 'cut', status: res.statusCode, error: (err as Error).message }
    }
  } finally {
    await dispatcher.destroy()
  }
}

function describe (o: Outcome): string {
  if (o.kind === 'complete') return `complete ${o.status} with ${o.body.length} bytes`
  if (o.kind === 'cut') return `${o.status} cut: ${o.error}`
  return `no answer: ${o.error}`
}

interface Case {
  title: string
  path: string
  method?: 'GET' | 'HEAD'
  /** The client pauses reading until the app has sent everything (or is held back). */
  slowReader?: boolean
  check: (t: Test, o: Outcome) => void
}

const complete = (status: number, body: Buffer | string, more?: (t: Test, o: Outcome & { kind: 'complete' }) => void) => (t: Test, o: Outcome): void => {
  if (o.kind !== 'complete') { t.fail(`expected a complete ${status} answer, got ${describe(o)}`); return }
  t.equal(o.status, status, 'status')
  const want = typeof body === 'string' ? Buffer.from(body) : body
  t.ok(o.body.equals(want), `the whole body (${want.length} bytes), got ${o.body.length} bytes`)
  more?.(t, o)
}
const badGateway = (t: Test, o: Outcome): void => {
  if (o.kind !== 'complete' || o.status !== 502) { t.fail(`expected a 502, got ${describe(o)}`); return }
  t.match(JSON.parse(o.body.toString()), { error: { code: String } }, 'a catalogue error')
}
/** The app cut its answer: a 502 (nothing sent yet) or a cut response, never a complete-looking one. */
const cutOrBadGateway = (t: Test, o: Outcome): void => {
  if (o.kind === 'complete' && o.status === 502) { t.pass(`502: ${o.body.toString().slice(0, 200)}`); return }
  // 'no answer' (the connection closed without a status line) is not sensible: the client cannot
  // tell it from a dead gateway, and nothing had reached it, so a 502 was due.
  t.equal(o.kind, 'cut', `a cut response or a 502, got ${describe(o)}`)
}

const cases: Case[] = [
  {
    title: 'a 303 with Connection: close, Content-Length: 0 and a Set-Cookie, then the close, arrives whole',
    path: '/see-other-close',
    check: complete(303, '', (t, o) => t.equal(o.headers.location, '/'))
  },
  { title: 'a 204 with a Set-Cookie and no body arrives', path: '/no-content', check: complete(204, '') },
  { title: 'a 304 with a Set-Cookie arrives', path: '/not-modified', check: complete(304, '', (t, o) => t.equal(o.headers.etag, '"v1"')) },
  { title: 'a HEAD answered with Content-Length: 10 and no body arrives', path: '/head', method: 'HEAD', check: complete(200, '') },
  { title: 'a 200 with Content-Length: 0 and a Set-Cookie arrives', path: '/empty', check: complete(200, '') },
  { title: 'an HTTP/1.0 answer whose body is delimited by the close arrives whole', path: '/http10', check: complete(200, HTTP10_BODY) },
  { title: 'a 200 KiB body after Connection: close, delimited by the close, arrives whole', path: '/close-big', check: complete(200, BIG) },
  {
    title: 'a 200 KiB body delimited by the close arrives whole to a client that reads late (backpressure at the app\'s FIN)',
    path: '/close-big',
    slowReader: true,
    check: complete(200, BIG)
  },
  { title: 'an app that resets the connection before any byte gets the client a 502', path: '/reset-before', check: badGateway },
  { title: 'an app that resets the connection right after the head gets the client a 502 or a cut answer', path: '/reset-after-head', check: cutOrBadGateway },
  { title: 'an app that resets the connection after half the body gets the client a 502 or a cut answer', path: '/reset-mid-body', check: cutOrBadGateway },
  { title: 'an app that closes the connection mid-body (short of its Content-Length) gets the client a 502 or a cut answer', path: '/close-mid-body', check: cutOrBadGateway }
]

const configurations: Array<[string, string[]]> = [
  ['without --redis', []],
  ['with --redis and the default session cache', ['--redis', redis.url, '--secret', SECRET]],
  ['with --redis and --session-cache-size 0', ['--redis', redis.url, '--secret', SECRET, '--session-cache-size', '0']]
]

let seq = 0

for (const [configuration, extra] of configurations) {
  t.test(`every upstream shape, ${configuration}`, async (t) => {
    const args = ['--upstream', appUrl, '--redis-timeout', '500ms', ...extra]
    let gateway: Daemon = await startDaemon('gateway', args)
    const started: Daemon[] = [gateway]
    t.teardown(async () => { for (const d of started) await d.stop() })

    for (const withSession of [false, true]) {
      for (const c of cases) {
        t.test(`${c.title} (${withSession ? 'with a session' : 'creating the session'})`, async (t) => {
          const id = String(++seq)
          let cookie: string | undefined
          if (withSession) {
            const first = await request(`${gateway.url}/ok?id=${id}`)
            await first.body.dump()
            const line = ([] as string[]).concat(first.headers['set-cookie'] ?? []).find((l) => l.startsWith('podside='))
            if (line === undefined) { t.fail('the well-behaved answer gave no podside cookie'); return }
            cookie = line.slice(0, line.indexOf(';'))
          }
          const beforeReading = c.slowReader === true
            ? async () => { await waitFor('the app to send its whole answer, or to be held back', () => { const p = progress.get(id); return p !== undefined && (p.ended || p.blocked) ? true : undefined }) }
            : undefined
          const outcome = await send(`${gateway.url}${c.path}?id=${id}`, { method: c.method, cookie, beforeReading })
          c.check(t, outcome)
          if (!withSession && outcome.kind === 'complete' && outcome.status < 500) {
            const lines = ([] as string[]).concat((outcome.headers['set-cookie'] as string | string[] | undefined) ?? [])
            t.ok(lines.some((l) => l.startsWith('podside=')), 'the app\'s Set-Cookie created a session')
          }

          // A process that died answering may not have been reaped yet: /healthz tells first.
          const health = await request(`${gateway.adminUrl}/healthz`).then(async (r) => { await r.body.dump(); return r.statusCode }, () => undefined)
          if (health === undefined) {
            await waitFor('the gateway process to exit or answer /healthz', async () =>
              gateway.child.exitCode !== null || gateway.child.signalCode !== null ? true : undefined, 5_000).catch(() => {})
          }
          const dead = gateway.child.exitCode !== null || gateway.child.signalCode !== null
          t.notOk(dead, `the gateway process is still running${dead ? `; it exited (${gateway.child.exitCode ?? gateway.child.signalCode}), its last output:\n${gateway.output().slice(-2500)}` : ''}`)
          t.equal(health, 200, '/healthz answers 200')
          if (dead) {
            // Judge each case on its own: the next one gets a running gateway.
            gateway = await startDaemon('gateway', args)
            started.push(gateway)
          }
        })
      }
    }
  })
}
