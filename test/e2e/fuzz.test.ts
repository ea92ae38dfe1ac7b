import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { randomInt } from 'node:crypto'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { serve, startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * A seeded fuzz pass over both daemons, as real processes: a Redis-backed gateway in front of a
 * small in-process app, and a file proxy over a temporary root, plus both admin listeners. Every
 * request is generated from one seed (printed in the test names; PODSIDE_FUZZ_SEED=<n> replays it,
 * PODSIDE_FUZZ_COUNT=<n> changes the count, PODSIDE_FUZZ_DEBUG=1 prints every request and answer),
 * sent with undici, or raw over a socket when undici refuses its bytes. The contract under test: no
 * input from a client ever gets a 5xx (the app is up and Redis is up, so even the documented
 * 502/503/504 have no cause), every request gets an answer (a 4xx from Node's parser is one), and
 * no input ends a process.
 */
const SEED = process.env.PODSIDE_FUZZ_SEED !== undefined && process.env.PODSIDE_FUZZ_SEED !== ''
  ? Number(process.env.PODSIDE_FUZZ_SEED) >>> 0
  : randomInt(0, 2 ** 32 - 1)
const PER_DAEMON = Number(process.env.PODSIDE_FUZZ_COUNT ?? 1500)
const CONCURRENCY = Number(process.env.PODSIDE_FUZZ_CONCURRENCY ?? 8)
const REQUEST_TIMEOUT = 10_000
const SECRET = 'fuzz-test-secret-0123456789abcdef-0123'
const replay = `(replay: PODSIDE_FUZZ_SEED=${SEED}${process.env.PODSIDE_FUZZ_COUNT === undefined ? '' : ` PODSIDE_FUZZ_COUNT=${PER_DAEMON}`} npx tap test/e2e/fuzz.test.ts)`

// ---------------------------------------------------------------- the seeded random source

/** mulberry32: a tiny 32-bit PRNG, enough to make every run replayable from its seed. */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) | 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

class Rng {
  private readonly next: () => number
  constructor (seed: number) { this.next = mulberry32(seed) }
  float (): number { return this.next() }
  int (n: number): number { return Math.floor(this.next() * n) }
  between (lo: number, hi: number): number { return lo + this.int(hi - lo + 1) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }
  chars (alphabet: string, len: number): string {
    let s = ''
    for (let i = 0; i < len; i++) s += alphabet[this.int(alphabet.length)]
    return s
  }
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const TCHAR = ALNUM + "!#$%&'*+-.^_`|~"
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')
const OBS_TEXT = Array.from({ length: 128 }, (_, i) => String.fromCharCode(128 + i)).join('')
/** Bytes no field may carry: undici refuses them, so they go raw, and Node's parser must refuse them. */
const BAD_BYTES = '\x00\x01\x07\x0b\x0c\x1b\x7f\r\n'

// ---------------------------------------------------------------- requests

interface Req {
  target: 'public' | 'admin'
  method: string
  /** The request target exactly as sent (a latin1 string: one char per byte). */
  path: string
  /** [name, value] pairs, spellings and duplicates kept. */
  headers: Array<[string, string]>
  body?: string
  /** Send over a socket even if undici would take it. */
  raw: boolean
}

const describe = (r: Req): string => {
  const cut = (s: string): string => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…(${s.length} chars)` : s)
  return `${r.target} ${r.method} ${cut(r.path)} ${r.headers.map(([n, v]) => `${cut(n)}: ${cut(v)}`).join(', ')}` +
    (r.body === undefined ? '' : ` body ${cut(r.body)}`) + (r.raw ? ' (raw)' : '')
}

const LOOKALIKES = [
  'Podside-Session-Id', 'podside_session_id', 'PODSIDE-SESSION', 'Podside-Session-User', 'Podside.Session.Id',
  'Podside-Task-Id', 'Podside-Task-Name', 'Podside_Node', 'podside-', 'Podside', 'Podside-Task-Result',
  'X-Forwarded-For', 'X_Forwarded_For', 'x-forwarded-proto', 'X-Forwarded-Host', 'X-Forwarded-Ssl',
  'X-Forwarded-', 'X-Forwarded-Port', 'X_FORWARDED_PREFIX', 'Forwarded', 'X-Real-IP', 'x_real_ip',
  'Cookie', 'cookie', 'Accept-Encoding', 'Range', 'If-None-Match', 'If-Match', 'If-Range', 'If-Modified-Since',
  'If-Unmodified-Since', 'Sec-Fetch-Site', 'Sec-Fetch-Mode', 'Sec-Fetch-Dest', 'Origin', 'Referer', 'Accept',
  'Authorization', 'Host', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer', 'Proxy-Authorization',
  'Cache-Control', 'Pragma', 'Via', 'Max-Forwards', 'Content-Type', 'User-Agent', 'Accept-Language'
]

class Generator {
  /** Set per request: a well-formed request (valid bytes, a real file's path), so answers past the parser get fuzzed too. */
  private clean = false
  constructor (readonly rng: Rng, private readonly known: { etags: string[], cookies: string[], files: string[] }) {}

  name (): string {
    const r = this.rng
    const k = r.int(100)
    if (k < 40) return r.pick(LOOKALIKES)
    if (k < 70) return r.chars(TCHAR, r.between(1, 24))
    if (k < 78) {
      // A lookalike with its separators and case shuffled.
      return r.pick(LOOKALIKES).split('').map((c) => c === '-' && r.chance(0.4) ? r.pick(['_', '.', '-']) : r.chance(0.3) ? c.toUpperCase() : c.toLowerCase()).join('')
    }
    if (this.clean) return r.chars(TCHAR, r.between(1, 24))
    if (k < 84) return 'X-' + r.chars(ALNUM + '-_', r.between(200, 9000))
    if (k < 90) return r.chars(TCHAR, r.between(1, 10)) + r.pick([' ', ':', '\x7f', '\x00', '(', '"', '\xe9', '@', '[', '\t']) + r.chars(TCHAR, r.between(0, 5))
    return r.pick(['Podside-Session-Id', 'X-Forwarded-For', 'Cookie', 'Range']) + r.pick(['', '_', '-', '.', '~'])
  }

  value (): string {
    const r = this.rng
    const k = r.int(100)
    if (k < 35) return r.chars(PRINTABLE, r.between(0, 40))
    if (k < 45) return r.chars(PRINTABLE, r.between(1000, 12000))
    if (k < 60) return Array.from({ length: r.between(1, 6) }, () => r.pick(['"', '""', '"a,b"', ',', ' , ', ';', '=', 'a=b', '\\"', "'"]) + r.chars(ALNUM, r.between(0, 4))).join(r.pick([',', ', ', ';', '']))
    if (k < 68) return r.chars(PRINTABLE + OBS_TEXT, r.between(1, 30))
    if (k < 74 && this.clean) return r.chars(ALNUM, r.between(1, 30))
    if (k < 74) return r.chars(PRINTABLE, r.between(0, 8)) + r.pick(BAD_BYTES.split('')) + r.chars(PRINTABLE, r.between(0, 8))
    if (k < 80) return ''
    if (k < 88) return r.pick(['127.0.0.1', '203.0.113.9, 10.0.0.1', 'https', 'http', 'on', 'for=1.2.3.4;proto=https', 'evil.example', 'unknown', '[::1]:80', 'cross-site', 'same-origin', 'null', 'https://evil.example'])
    return r.pick(this.known.cookies.length > 0 ? this.known.cookies : ['x'])
  }

  segment (): string {
    const r = this.rng
    const k = r.int(100)
    if (k < 30) return r.pick(this.known.files)
    if (k < 60) {
      return r.pick(['..', '.', '%2e%2e', '%2E%2e', '%2e', '%2f', '%2F', '%5c', '%5C', '\\', '%00', '%E0%A4%A', '%ZZ', '%', '%2',
        '%252e%252e', '%252f', '%25', '~', '.hidden', '.git', '%2ehidden', '%C3%A9', '%41.txt', '%c0%ae%c0%ae', '%ff', '%FF%FE',
        ';x', '', '', 'a.txt%00.png', 'a.txt;v=1', '..%2f..%2fetc%2fpasswd', 'sub%2fc.json', 'img%5cb.png', '_podside', 'tasks'])
    }
    if (k < 80) return r.chars(ALNUM + '-._~', r.between(1, 12))
    if (k < 88) return r.chars(ALNUM + "-._~!$&'()*+,;=:@%", r.between(1, 12))
    if (k < 94) return r.chars(PRINTABLE + OBS_TEXT, r.between(1, 8))
    return r.chars(ALNUM, r.between(300, 3000))
  }

  query (): string {
    const r = this.rng
    const etag = r.pick(this.known.etags).replaceAll('"', '')
    return r.pick([`v=${etag}`, 'v=', `v=${etag}&v=${etag}`, `v=${r.chars(ALNUM, 22)}`, r.chars(ALNUM + '=&%', r.between(1, 40)), 'v', 'v=%ZZ', '&&&', `v=${etag}%00`])
  }

  path (): string {
    const r = this.rng
    if (this.clean) {
      return r.pick(['/a.txt', '/big.bin', '/img/b.png', '/sub/c.json', '/empty.txt', '/', '/img/', '/ab', '/abc/def']) +
        (r.chance(0.5) ? '?' + this.query() : '')
    }
    const k = r.int(100)
    if (k < 3) return '*'
    if (k < 6) return 'http://' + r.pick(['127.0.0.1', 'evil.example', 'a b']) + '/' + this.segment()
    if (k < 9) return this.segment()
    const segments = Array.from({ length: r.between(1, 5) }, () => this.segment())
    let p = (r.chance(0.1) ? '//' : '/') + segments.join('/')
    if (r.chance(0.3)) p += '?' + this.query()
    if (r.chance(0.03)) p += '#frag'
    return p
  }

  range (): string {
    const r = this.rng
    const n = (): string => String(r.pick([0, 1, 5, 9, 10, 99, 4095, 65535, 65536, 70000, 200000, 1e15, 2 ** 53, 99999999999999999999]))
    return r.pick([
      `bytes=${n()}-${n()}`, `bytes=${n()}-`, `bytes=-${n()}`, `bytes=${n()}-${n()},${n()}-${n()}`,
      `bytes=${Array.from({ length: r.between(2, 40) }, () => `${n()}-${n()}`).join(',')}`,
      'bytes=10-5', 'bytes=-0', 'bytes=0-0', 'bytes=', 'bytes=abc', 'items=0-1', 'bytes = 0-1', 'bytes=0-1,', ',', 'bytes=--1',
      'bytes=1-2-3', 'bytes=0x10-0x20', `bytes=${r.chars(PRINTABLE, 10)}`
    ])
  }

  etagList (): string {
    const r = this.rng
    const one = (): string => r.pick([...this.known.etags, ...this.known.etags.map((e) => `W/${e}`), ...this.known.etags.map((e) => e.replace(/"$/, '-br"')),
      '*', '"x"', `"${r.chars(ALNUM, 22)}"`, r.chars(PRINTABLE, 10), '""', '"', 'W/'])
    return Array.from({ length: r.between(1, 4) }, one).join(r.pick([', ', ',', ' ,, ']))
  }

  date (): string {
    return this.rng.pick(['Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', new Date(0).toUTCString(), 'Sun, 06 Nov 1994 08:49:37 GMT',
      'garbage', '', '0', '-1', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994', '2026-13-45T99:99:99Z', 'Sat, 29 Feb 2025 25:61:61 GMT'])
  }

  cookie (): string {
    const r = this.rng
    const valid = this.known.cookies
    const parts: string[] = []
    for (let i = r.between(0, 4); i > 0; i--) {
      const k = r.int(10)
      if (k < 3 && valid.length > 0) parts.push(`podside=${r.pick(valid)}`)
      else if (k < 5 && valid.length > 0) parts.push(`podside=${r.pick(valid).slice(0, 33)}${r.chars(ALNUM + '-_', r.between(0, 50))}`)
      else if (k < 6) parts.push(r.pick(['podside=', 'podside', '=podside', 'podside=a.b', 'podside="x"', 'PODSIDE=x', ' podside = x ']))
      else if (k < 8) parts.push(`${r.chars(ALNUM + '_-', r.between(1, 10))}=${r.chars(PRINTABLE.replace(';', ''), r.between(0, 20))}`)
      else if (k < 9) parts.push(r.chars(PRINTABLE, r.between(0, 20)))
      else parts.push(`c${r.int(4)}=${r.chars(ALNUM, 300)}`)
    }
    return parts.join(r.pick(['; ', ';', ' ; ', ';;']))
  }

  /** One request for the public listener of the given daemon. */
  request (target: 'public'): Req {
    const r = this.rng
    this.clean = r.chance(0.5)
    const method = this.clean ? r.pick(['GET', 'GET', 'GET', 'HEAD', 'POST']) : r.pick(['GET', 'GET', 'GET', 'GET', 'HEAD', 'HEAD', 'POST', 'POST', 'OPTIONS', 'DELETE', 'PUT', 'PATCH', r.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ', r.between(1, 8))])
    const headers: Array<[string, string]> = []
    if (r.chance(0.5)) headers.push(['Range', this.range()])
    if (r.chance(0.3)) headers.push([r.pick(['If-None-Match', 'If-Match', 'If-Range']), this.etagList()])
    if (r.chance(0.15)) headers.push(['If-Range', this.date()])
    if (r.chance(0.2)) headers.push([r.pick(['If-Modified-Since', 'If-Unmodified-Since']), this.date()])
    if (r.chance(0.3)) headers.push(['Accept-Encoding', r.pick(['br', 'gzip', 'br;q=0, gzip;q=1', 'identity;q=0', '*;q=0', 'gzip;q=abc', r.chars(PRINTABLE, 12)])])
    if (r.chance(0.5)) headers.push(['Cookie', this.cookie()])
    if (r.chance(0.1)) headers.push(['Cookie', this.cookie()])
    for (let i = r.between(0, 6); i > 0; i--) headers.push([this.name(), this.value()])
    if (r.chance(0.03)) headers.push(['Connection', `close, ${this.name()}`])
    let body: string | undefined
    if (method === 'POST' || (method === 'PUT' && r.chance(0.5))) body = r.chars(PRINTABLE + OBS_TEXT, r.between(0, 300))
    const path = this.path()
    this.clean = false
    return { target, method, path, headers, body, raw: r.chance(0.05) }
  }

  gatewayAdmin (): Req {
    const r = this.rng
    const seg = (): string => r.chance(0.3) && this.known.cookies.length > 0 ? r.pick(this.known.cookies).slice(0, 32) : this.segment()
    const path = r.pick([
      `/v1/sessions/${seg()}`, `/v1/users/${seg()}/sessions`, `/v1/sessions/${seg()}/${seg()}`, '/v1/sessions/', '/v1/users//sessions',
      '/healthz', '/readyz', '/metrics', '/v1/nodes', `/v1/${seg()}`, `/${seg()}`, `/v1/tasks/${seg()}`, '/v1/sessions/%E0%A4%A', '/v1/users/%ZZ/sessions'
    ])
    const method = r.pick(['GET', 'GET', 'DELETE', 'HEAD', 'POST', 'PUT', 'OPTIONS'])
    const headers: Array<[string, string]> = []
    for (let i = r.between(0, 2); i > 0; i--) headers.push([this.name(), this.value()])
    if (r.chance(0.2)) headers.push(['Authorization', `Bearer ${r.chars(PRINTABLE, r.between(0, 40))}`])
    const body = method === 'POST' || method === 'PUT' ? r.chars(PRINTABLE, r.between(0, 200)) : undefined
    return { target: 'admin', method, path, headers, body, raw: r.chance(0.05) }
  }

  fileproxyAdmin (): Req {
    const r = this.rng
    const headers: Array<[string, string]> = []
    for (let i = r.between(0, 2); i > 0; i--) headers.push([this.name(), this.value()])
    if (r.chance(0.5)) {
      const p = r.chance(0.5) ? this.path() : this.segment()
      const q = r.pick([`path=${p}`, `path=${encodeURIComponent(p)}`, 'path=', '', `path=${p}&path=/a.txt`, `${r.chars(ALNUM, 4)}=${p}`])
      return { target: 'admin', method: r.pick(['GET', 'GET', 'HEAD', 'POST', 'DELETE']), path: `/v1/url?${q}`, headers, raw: r.chance(0.05) }
    }
    const spec = (): unknown => {
      const k = r.int(10)
      if (k < 2) return { paths: Array.from({ length: r.between(0, 4) }, () => this.path()) }
      if (k < 3) return { prefixes: Array.from({ length: r.between(0, 3) }, () => this.path()) }
      if (k < 4) return { all: r.pick([true, false, 'yes', 1, null]) }
      if (k < 5) return { id: r.chars(PRINTABLE, 10), paths: r.pick(['x', 1, null, [1, 2], {}]), prefixes: r.pick([[], '/', [null]]) }
      if (k < 6) return r.pick([[], null, 42, 'str', true, {}])
      return undefined
    }
    const s = spec()
    const body = s === undefined ? r.pick([this.path(), r.chars(PRINTABLE + OBS_TEXT, r.between(0, 300)), '{', '{"paths":', '', r.chars(ALNUM, r.between(70_000, 200_000))]) : JSON.stringify(s)
    return { target: 'admin', method: r.pick(['POST', 'POST', 'POST', 'GET', 'PUT']), path: r.pick(['/v1/purge', '/v1/purge', '/v1/purge/', '/v1/purge?x=1', `/v1/${this.segment()}`]), headers, body, raw: r.chance(0.05) }
  }
}

// ---------------------------------------------------------------- sending

type Outcome = { status: number } | { error: string }

/** Raw bytes over a socket: for what undici refuses to send. The status line of the answer, or why there was none. */
async function sendRaw (base: string, req: Req): Promise<Outcome> {
  const { hostname, port, host } = new URL(base)
  const lines = [`${req.method} ${req.path} HTTP/1.1`]
  if (!req.headers.some(([n]) => n.toLowerCase() === 'host')) lines.push(`Host: ${host}`)
  for (const [n, v] of req.headers) lines.push(`${n}: ${v}`)
  const body = req.body === undefined ? undefined : Buffer.from(req.body, 'latin1')
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`)
  lines.push('Connection: close', '', '')
  const head = Buffer.from(lines.join('\r\n'), 'latin1')
  return await new Promise((resolve) => {
    let got = ''
    let done = false
    const finish = (o: Outcome): void => { if (!done) { done = true; socket.destroy(); resolve(o) } }
    const socket = net.connect(Number(port), hostname, () => { socket.write(body === undefined ? head : Buffer.concat([head, body])) })
    socket.setTimeout(REQUEST_TIMEOUT, () => finish({ error: `no answer within ${REQUEST_TIMEOUT} ms` }))
    socket.on('data', (d) => {
      got += d.toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got)
      if (m !== null) finish({ status: Number(m[1]) })
      else if (got.length >= 12) finish({ error: `not an HTTP answer: ${JSON.stringify(got.slice(0, 80))}` })
    })
    // Sending a large head the server already refused may end in a reset after its answer was read.
    socket.on('error', (err) => finish({ error: `${(err as NodeJS.ErrnoException).code ?? err.message} before any answer` }))
    socket.on('close', () => finish({ error: got === '' ? 'connection closed with no answer' : `partial answer ${JSON.stringify(got.slice(0, 80))}` }))
  })
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const UNDICI_REFUSES = new Set(['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te', 'content-length', 'host'])

/**
 * Whether undici would send this request as it is (the checks of its core/request.js). Asking it
 * and catching its refusal is not an option: in undici 7.30 a request it rejects with
 * UND_ERR_INVALID_ARG leaves its Pool connection wedged, and every later request on it waits forever.
 */
function undiciTakes (req: Req): boolean {
  if (!TOKEN.test(req.method) || ['CONNECT'].includes(req.method)) return false
  if (!req.path.startsWith('/') || /[^\u0021-\u00ff]/.test(req.path)) return false
  return req.headers.every(([n, v]) => TOKEN.test(n) && !UNDICI_REFUSES.has(n.toLowerCase()) && !/[^\t\x20-\x7e\x80-\xff]/.test(v) && v.trim() === v)
}

async function send (to: Target, req: Req): Promise<Outcome & { raw: boolean }> {
  if (req.raw || !undiciTakes(req)) return { ...await sendRaw(to.base, req), raw: true }
  let res
  try {
    res = await to.pool.request({
      path: req.path,
      method: req.method as 'GET',
      headers: req.headers.flat(),
      body: req.body === undefined ? undefined : Buffer.from(req.body, 'latin1'),
      headersTimeout: REQUEST_TIMEOUT,
      bodyTimeout: REQUEST_TIMEOUT
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
      // Refused after all: a fresh pool (see undiciTakes), and the bytes go raw for Node's parser to judge.
      const old = to.pool
      to.pool = newPool(to.base)
      old.destroy().catch(() => {})
      return { ...await sendRaw(to.base, req), raw: true }
    }
    return { error: `${code ?? ''} ${(err as Error).message}`, raw: false }
  }
  try { await res.body.dump() } catch (err) {
    return { error: `answer ${res.statusCode} whose body failed: ${(err as Error).message}`, raw: false }
  }
  return { status: res.statusCode, raw: false }
}

interface Target { name: string, base: string, pool: Pool }

const pools: Pool[] = []
function newPool (base: string): Pool {
  const pool = new Pool(base, { connections: CONCURRENCY, pipelining: 1 })
  pools.push(pool)
  return pool
}

/** Sends every request (CONCURRENCY at a time) and returns the ones that broke the contract. */
async function run (reqs: Array<{ req: Req, to: Target }>): Promise<{ failures: string[], statuses: Map<string, number> }> {
  const failures: string[] = []
  const statuses = new Map<string, number>()
  let next = 0
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= reqs.length) return
      const { req, to } = reqs[i]
      if (process.env.PODSIDE_FUZZ_DEBUG !== undefined) console.error(`> #${i} ${describe(req)}\nJSON ${JSON.stringify(req)}`)
      const out = await send(to, req)
      if (process.env.PODSIDE_FUZZ_DEBUG !== undefined) console.error(`< #${i} ${JSON.stringify(out)}`)
      const key = `${to.name} ${'status' in out ? out.status : 'error'}`
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
      if ('error' in out) failures.push(`#${i} ${to.name}: ${out.error}${out.raw ? ' (sent raw)' : ''}: ${describe(req)}`)
      else if (out.status >= 500) failures.push(`#${i} ${to.name}: ${out.status}${out.raw ? ' (sent raw)' : ''}: ${describe(req)}`)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { failures, statuses }
}

function report (failures: string[], statuses: Map<string, number>): string {
  const shown = failures.slice(0, 25).join('\n')
  return `${failures.length} request(s) broke the contract ${replay}:\n${shown}` +
    (failures.length > 25 ? `\n… and ${failures.length - 25} more` : '') +
    `\nanswers: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`
}

const errorLines = (d: Daemon): Array<Record<string, unknown>> => d.lines.filter((l) => typeof l.level === 'number' && (l.level as number) >= 50)

// ---------------------------------------------------------------- the set-up

const redis = await startRedis()
t.teardown(async () => await stopRedis(redis))

// The app: 200 with a small body; some answers set a cookie (so sessions are made and written),
// decided by the URL so a seed replays the same answers.
const app = await serve(http.createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    const url = req.url ?? ''
    const headers: Record<string, string | string[]> = { 'content-type': 'text/plain' }
    if (url.length % 3 === 0) headers['set-cookie'] = [`c${url.length % 5}=${url.length}; Path=/; HttpOnly`, ...(url.length % 2 === 0 ? ['PHPSESSID=' + url.length + '; Path=/'] : [])]
    res.writeHead(200, headers)
    res.end(req.method === 'HEAD' ? undefined : `app ${req.method ?? ''} ${url.length}\n`)
  })
}))
t.teardown(async () => await app.close())

const root = mkdtempSync(join(tmpdir(), 'podside-fuzz-root-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
mkdirSync(join(root, 'img'))
mkdirSync(join(root, 'sub'))
writeFileSync(join(root, 'a.txt'), 'hello fuzz\n'.repeat(40))
writeFileSync(join(root, 'img', 'b.png'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) & 0xff)))
writeFileSync(join(root, 'sub', 'c.json'), JSON.stringify({ a: 1, list: Array.from({ length: 200 }, (_, i) => i) }))
writeFileSync(join(root, '.hidden'), 'secret\n')
writeFileSync(join(root, 'big.bin'), Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * 7 + (i >> 8)) & 0xff)))
writeFileSync(join(root, 'empty.txt'), '')
const FILES = ['a.txt', 'img', 'b.png', 'sub', 'c.json', 'big.bin', 'empty.txt', 'A.txt', 'img/b.png', 'sub/c.json', 'nope.png']

const gateway = await startDaemon('gateway', ['--upstream', app.url, '--redis', redis.url, '--secret', SECRET])
t.teardown(async () => { await gateway.stop() })
const fileproxy = await startDaemon('fileproxy', ['--root', root, '--max-object-size', '64KiB'])
t.teardown(async () => { await fileproxy.stop() })

const target = (name: string, base: string): Target => ({ name, base, pool: newPool(base) })
t.teardown(async () => { await Promise.all(pools.map(async (p) => await p.destroy().catch(() => {}))) })
const gwPublic = target('gateway', gateway.url)
const gwAdmin = target('gateway admin', gateway.adminUrl)
const fpPublic = target('fileproxy', fileproxy.url)
const fpAdmin = target('fileproxy admin', fileproxy.adminUrl)

// Known-good values to mix in: real podside cookies, real ETags.
const cookies: string[] = []
for (let i = 0; i < 3; i++) {
  const res = await gwPublic.pool.request({ path: '/ab', method: 'GET' })
  await res.body.dump()
  const sc = res.headers['set-cookie']
  for (const line of sc === undefined ? [] : Array.isArray(sc) ? sc : [sc]) {
    if (line.startsWith('podside=')) cookies.push(line.slice('podside='.length).split(';')[0])
  }
}
const etags: string[] = []
for (const f of ['/a.txt', '/img/b.png', '/sub/c.json', '/big.bin']) {
  const res = await fpAdmin.pool.request({ path: `/v1/url?path=${encodeURIComponent(f)}`, method: 'GET' })
  const body = await res.body.json() as { etag: string }
  etags.push(body.etag)
}

t.test('the set-up hands out real podside cookies and ETags to mix into the fuzz', async (t) => {
  t.equal(cookies.length, 3, 'three sessions made through the gateway')
  t.equal(etags.length, 4)
  for (const e of etags) t.match(e, /^"[^"]+"$/)
})

// ---------------------------------------------------------------- the fuzz

t.test(`the gateway (Redis-backed) and its admin listener give no 5xx and drop no request across ${PER_DAEMON} seeded random requests (seed ${SEED})`, async (t) => {
  const gen = new Generator(new Rng(SEED), { etags, cookies, files: FILES })
  const reqs = Array.from({ length: PER_DAEMON }, () => {
    const pub = gen.request('public') // drawn either way, so the sequence depends on the seed alone
    return gen.rng.chance(0.15) ? { req: gen.gatewayAdmin(), to: gwAdmin } : { req: pub, to: gwPublic }
  })
  const { failures, statuses } = await run(reqs)
  t.same(failures, [], failures.length === 0 ? `answers: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}` : report(failures, statuses))
  t.same(errorLines(gateway).map((l) => l.msg), [], `the gateway logged nothing at error level ${replay}`)
})

t.test(`the file proxy and its admin listener give no 5xx and drop no request across ${PER_DAEMON} seeded random requests (seed ${SEED})`, async (t) => {
  const gen = new Generator(new Rng((SEED ^ 0x9E3779B9) >>> 0), { etags, cookies, files: FILES })
  const reqs = Array.from({ length: PER_DAEMON }, () => {
    const pub = gen.request('public')
    return gen.rng.chance(0.15) ? { req: gen.fileproxyAdmin(), to: fpAdmin } : { req: pub, to: fpPublic }
  })
  const { failures, statuses } = await run(reqs)
  t.same(failures, [], failures.length === 0 ? `answers: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}` : report(failures, statuses))
  t.same(errorLines(fileproxy).map((l) => l.msg), [], `the file proxy logged nothing at error level ${replay}`)
})

t.test(`both daemons are still running after the fuzz and answer /healthz with 200 (seed ${SEED})`, async (t) => {
  for (const [name, d] of [['gateway', gateway], ['fileproxy', fileproxy]] as const) {
    t.same({ exitCode: d.child.exitCode, signal: d.child.signalCode }, { exitCode: null, signal: null },
      `${name} is still running ${replay}` + (d.child.exitCode === null && d.child.signalCode === null ? '' : `; its last output:\n${d.output().slice(-3000)}`))
    const res = await (name === 'gateway' ? gwAdmin : fpAdmin).pool.request({ path: '/healthz', method: 'GET' })
    await res.body.dump()
    t.equal(res.statusCode, 200, `${name} /healthz`)
  }
})
