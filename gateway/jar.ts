import { Cookie, canonicalDomain, defaultPath, domainMatch, getPublicSuffix, pathMatch } from 'tough-cookie'

/**
 * The cookie jar's rules, as a browser applies them (RFC 6265, with the RFC 6265bis rules browsers
 * ship: Secure cookies only from secure origins, cookie name prefixes). Pure functions: the store
 * keeps the cookies, this file decides what goes in and what comes out.
 */
export interface JarCookie {
  name: string
  value: string
  /** Canonical (lower-case, no leading dot). */
  domain: string
  path: string
  /** Set without a Domain attribute: sent to this exact host only (RFC 6265 §5.3 step 6). */
  hostOnly: boolean
  secure: boolean
  httpOnly: boolean
  /** Epoch ms; 0 = a session-only cookie (lives while the session is not idle). */
  expires: number
  /** Epoch ms; orders cookies of equal path length (RFC 6265 §5.4 step 2). */
  created: number
  /** Position among the Set-Cookie lines of the answer that created it: orders cookies of one answer. */
  order: number
  /** The app's `SameSite`; `default` (none given) is enforced as Lax, as browsers do. */
  sameSite: SameSite
}

export type SameSite = 'strict' | 'lax' | 'none' | 'default'

/**
 * How the request relates to the site it went to (RFC 6265bis §5.8.3): same-site, a cross-site
 * top-level navigation with a safe method, or any other cross-site request.
 */
export type SiteContext = 'same-site' | 'cross-site-navigation' | 'cross-site'

export type JarChange =
  | { op: 'set', cookie: JarCookie }
  | { op: 'delete', domain: string, path: string, name: string }

/** The URL as the browser saw it, which is what cookies are matched against. */
export interface PublicUrl {
  /** Lower-case host name without port or IPv6 brackets. */
  host: string
  path: string
  secure: boolean
}

/** One cookie per (domain, path, name): RFC 6265 §5.3 step 11 replaces on that triple. */
export function cookieKey (domain: string, path: string, name: string): string {
  return `${domain};${path};${name}`
}

export interface Capture {
  changes: JarChange[]
  /** `Set-Cookie` lines relayed to the browser untouched (`--passthrough-cookies`). */
  relayed: string[]
  /** Lines refused, with why (logged; values are never part of this). */
  refused: Array<{ name: string, reason: string }>
}

export interface CaptureOptions {
  passthrough: ReadonlySet<string>
  maxCookieBytes: number
  now: number
}

/** Turns an upstream response's `Set-Cookie` lines into jar changes (RFC 6265 §5.2, §5.3). */
export function captureSetCookies (lines: readonly string[], url: PublicUrl, opts: CaptureOptions): Capture {
  const capture: Capture = { changes: [], relayed: [], refused: [] }
  for (const [order, line] of lines.entries()) {
    // One cookie per line (RFC 6265 §3): a line is never split on commas.
    const parsed = Cookie.parse(line)
    if (parsed === undefined) { capture.refused.push({ name: '', reason: 'unparsable Set-Cookie line' }); continue }
    if (opts.passthrough.has(parsed.key)) { capture.relayed.push(line); continue }
    const change = toChange(parsed, url, opts, order)
    if (typeof change === 'string') capture.refused.push({ name: parsed.key, reason: change })
    else capture.changes.push(change)
  }
  return capture
}

function toChange (c: Cookie, url: PublicUrl, opts: CaptureOptions, order: number): JarChange | string {
  if (c.key.length + c.value.length > opts.maxCookieBytes) return `larger than ${opts.maxCookieBytes} bytes`
  if (/[\x00-\x1f\x7f]/.test(c.key + c.value)) return 'control character in name or value' // never a CR/LF/NUL upstream

  // RFC 6265 §5.3 steps 4-6: Domain must domain-match the host and not be a public suffix.
  let domain = url.host
  let hostOnly = true
  if (c.domain !== null && c.domain !== undefined && c.domain !== '') {
    const wanted = canonicalDomain(c.domain) ?? ''
    if (publicSuffix(wanted) === undefined) {
      if (wanted !== url.host) return `Domain=${wanted} is a public suffix`
    } else if (domainMatch(url.host, wanted, false) !== true) {
      return `Domain=${wanted} is foreign to ${url.host}`
    } else {
      domain = wanted
      hostOnly = false
    }
  }
  const secureOrigin = url.secure || isLoopback(url.host)
  // RFC 6265bis §5.7 step 14: a non-secure origin may not set (or overwrite) a Secure cookie.
  if (c.secure && !secureOrigin) return 'Secure cookie set over plain http'
  const sameSite: SameSite = c.sameSite === 'strict' || c.sameSite === 'lax' || c.sameSite === 'none' ? c.sameSite : 'default'
  // Browsers refuse SameSite=None without Secure (RFC 6265bis §5.7 step 21 in the current draft).
  if (sameSite === 'none' && !c.secure) return 'SameSite=None without Secure'
  // RFC 6265bis §4.1.3: cookie name prefixes.
  if (c.key.startsWith('__Secure-') && !(c.secure && secureOrigin)) return '__Secure- prefix without Secure'
  if (c.key.startsWith('__Host-') && !(c.secure && secureOrigin && hostOnly && c.path === '/')) {
    return '__Host- prefix needs Secure, Path=/ and no Domain'
  }
  // RFC 6265 §5.2.4: a Path that does not start with "/" means the default path.
  const path = typeof c.path === 'string' && c.path.startsWith('/') ? c.path : defaultPath(url.path)

  // RFC 6265 §5.3 step 3: Max-Age wins over Expires; zero, negative or past means delete.
  let expires = 0
  if (typeof c.maxAge === 'number') {
    if (c.maxAge <= 0) return { op: 'delete', domain, path, name: c.key }
    expires = opts.now + c.maxAge * 1000
  } else if (c.expires instanceof Date) {
    expires = c.expires.getTime()
    if (expires <= opts.now) return { op: 'delete', domain, path, name: c.key }
  }
  return {
    op: 'set',
    cookie: { name: c.key, value: c.value, domain, path, hostOnly, secure: c.secure, httpOnly: c.httpOnly, expires, created: opts.now, order, sameSite }
  }
}

function publicSuffix (domain: string): string | undefined {
  try {
    return getPublicSuffix(domain, { allowSpecialUseDomain: true }) ?? undefined
  } catch {
    return undefined
  }
}

/** Browsers treat these as secure contexts even over http (W3C Secure Contexts §3.1). */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** Whether the jar would send this cookie to this URL now (RFC 6265 §5.4 step 1, RFC 6265bis §5.8.3). */
export function matches (c: JarCookie, url: PublicUrl, now: number, site: SiteContext = 'same-site', noneCrossSite = true): boolean {
  if (c.expires !== 0 && c.expires <= now) return false
  if (c.hostOnly ? c.domain !== url.host : domainMatch(url.host, c.domain, false) !== true) return false
  if (!pathMatch(url.path, c.path)) return false
  if (site !== 'same-site' && !sentCrossSite(c.sameSite, site, noneCrossSite)) return false
  return !c.secure || url.secure || isLoopback(url.host)
}

/**
 * Strict never crosses sites; Lax (and no SameSite) only with a safe top-level navigation; None
 * only when the gateway's own cookie is SameSite=None too (`noneCrossSite`, DESIGN.md): the jar
 * then crosses sites no further than the cookie that carries it.
 */
function sentCrossSite (sameSite: SameSite, site: SiteContext, noneCrossSite: boolean): boolean {
  if (sameSite === 'none') return noneCrossSite
  if (sameSite === 'strict') return false
  return site === 'cross-site-navigation'
}

/**
 * The jar's part of the app's `Cookie` header: matching cookies, longer paths first, then older
 * first (RFC 6265 §5.4 step 2), and cookies of one answer in the order of its Set-Cookie lines.
 * Returns the names too, so a browser cookie of the same name can be left out (the jar wins).
 */
export function jarCookieHeader (jar: readonly JarCookie[], url: PublicUrl, now: number, site: SiteContext = 'same-site',
  noneCrossSite = true): { header: string, names: Set<string> } {
  const sent = jar.filter((c) => matches(c, url, now, site, noneCrossSite))
  sent.sort((a, b) => b.path.length - a.path.length || a.created - b.created || a.order - b.order)
  return { header: sent.map((c) => `${c.name}=${c.value}`).join('; '), names: new Set(sent.map((c) => c.name)) }
}
