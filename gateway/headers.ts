import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { ClientView } from './forwarded.js'

/** RFC 9110 §7.6.1: hop-by-hop fields, meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'proxy-authenticate', 'proxy-authorization'])

/** Set by the gateway alone; a client or app value is never passed on. */
const GATEWAY_REQUEST_FIELDS = new Set(['cookie', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id',
  'podside-session-id', 'podside-session', 'podside-session-user',
  // Node answers `Expect: 100-continue` itself; undici refuses to send it on.
  'expect'])

const PODSIDE_RESPONSE_FIELDS = new Set(['podside-session', 'podside-session-user', 'podside-session-id', 'set-cookie'])

const NONE: ReadonlySet<string> = new Set()
const FOLDED = /[^a-z0-9-]/
const FOLDED_ALL = /[^a-z0-9-]/g

/**
 * Whether a client's field would speak in podside's name or in the name of a proxy the app trusts:
 * the whole `Podside-` family, any spelling of a field the gateway sets (PHP, WSGI and Rack read
 * `X_Forwarded_For`, and PHP `X.Forwarded.For`, as `X-Forwarded-For`, as nginx's default of
 * dropping underscored names acknowledges), and, from a client not behind `--trust-proxy`, every forwarding field (Rack
 * believes `X-Forwarded-Ssl` before `X-Forwarded-Proto`), as Envoy and Traefik strip them.
 */
function spokenForPodside (name: string, trusted: boolean): boolean {
  // CGI-style servers fold every character that is not a letter or digit into `_` (PHP: `.` too).
  const dashed = FOLDED.test(name) ? name.replace(FOLDED_ALL, '-') : name
  if (dashed.startsWith('podside-')) return true
  const forwarding = dashed.startsWith('x-forwarded-') || dashed === 'forwarded' || dashed === 'x-real-ip'
  if (dashed !== name && (forwarding || GATEWAY_REQUEST_FIELDS.has(dashed))) return true
  return forwarding && !trusted
}

/** Field names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens (value: string | string[] | undefined): ReadonlySet<string> {
  // The usual values name no other field (keep-alive is hop-by-hop already): no Set to build.
  if (value === undefined || value === 'keep-alive' || value === 'close') return NONE
  const tokens = new Set<string>()
  for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const t of v.split(',')) if (t.trim() !== '') tokens.add(t.trim().toLowerCase())
  }
  return tokens
}

export interface UpstreamRequestParts {
  view: ClientView
  cookie: string
  sessionId: string | undefined
  /** `X-Request-Id` for the app (shared/request-id.ts); `traceparent` passes as the client sent it. */
  requestId?: string
}

/**
 * The app's request headers as a flat [name, value, …] list (duplicates and order kept): the
 * client's end-to-end fields, then the rebuilt Cookie, the session id and X-Forwarded-*.
 */
export function upstreamRequestHeaders (req: IncomingMessage, parts: UpstreamRequestParts): string[] {
  const listed = connectionTokens(req.headers.connection)
  const raw = req.rawHeaders
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (HOP_BY_HOP.has(name) || GATEWAY_REQUEST_FIELDS.has(name) || listed.has(name) || spokenForPodside(name, parts.view.trusted)) continue
    out.push(raw[i], raw[i + 1])
  }
  if (parts.cookie !== '') out.push('cookie', parts.cookie)
  if (parts.sessionId !== undefined) out.push('podside-session-id', parts.sessionId)
  out.push('x-forwarded-for', parts.view.forwardedFor, 'x-forwarded-proto', parts.view.proto)
  if (parts.view.host !== '') out.push('x-forwarded-host', parts.view.host)
  if (parts.requestId !== undefined) out.push('x-request-id', parts.requestId)
  return out
}

/**
 * The app's response headers minus hop-by-hop fields, session directives and Set-Cookie, plus ours,
 * as a flat [name, value, …] list: Node writes that form without building an object (an object
 * assembled key by key is much slower in its header writer).
 */
export function downstreamResponseHeaders (headers: IncomingHttpHeaders, setCookies: readonly string[]): string[] {
  const listed = connectionTokens(headers.connection)
  const out: string[] = []
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || PODSIDE_RESPONSE_FIELDS.has(name) || listed.has(name)) continue
    if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, value)
  }
  for (const line of setCookies) out.push('set-cookie', line)
  return out
}

export function setCookieLines (value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}
