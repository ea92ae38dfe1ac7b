import { jarCookieHeader, type JarCookie, type PublicUrl, type SiteContext } from './jar.js'

/**
 * The Cookie header the app receives: the jar's matching cookies first, then the browser's own
 * cookies that the jar does not hold (a jar cookie wins over a browser cookie of the same name).
 * The gateway's session cookie was already taken out of `browserOthers`.
 */
export function appCookieHeader (jar: readonly JarCookie[] | undefined, browserOthers: ReadonlyArray<{ name: string, pair: string }>,
  url: PublicUrl, now: number, site: SiteContext = 'same-site', noneCrossSite = true): string {
  if (jar === undefined || jar.length === 0) return browserOthers.map((c) => c.pair).join('; ')
  // Cross-site requests are rare: their header (SameSite decides which cookies) is not kept.
  const { header, names } = site === 'same-site' ? jarPart(jar, url, now) : jarCookieHeader(jar, url, now, site, noneCrossSite)
  const rest = browserOthers.filter((c) => !names.has(c.name)).map((c) => c.pair)
  return header === '' ? rest.join('; ') : rest.length === 0 ? header : `${header}; ${rest.join('; ')}`
}

interface Built {
  header: string
  names: ReadonlySet<string>
  host: string
  secure: boolean
  /** Undefined when every cookie has Path=/, so any path gets the same header. */
  path: string | undefined
  /** The next time a cookie of the jar expires (epoch ms): the header may change then. */
  until: number
}

/**
 * A jar's part of the header, built once per jar and URL. A cached session hands every request
 * the same jar (records are never changed in place: a change loads a new one), and matching,
 * sorting and joining it was the gateway's largest own function in the profile.
 */
const built = new WeakMap<readonly JarCookie[], Built>()

function jarPart (jar: readonly JarCookie[], url: PublicUrl, now: number): { header: string, names: ReadonlySet<string> } {
  const last = built.get(jar)
  if (last !== undefined && now < last.until && last.host === url.host && last.secure === url.secure &&
    (last.path === undefined || last.path === url.path)) return last
  const { header, names } = jarCookieHeader(jar, url, now)
  let until = Infinity
  for (const c of jar) if (c.expires > now && c.expires < until) until = c.expires
  built.set(jar, { header, names, host: url.host, secure: url.secure, path: jar.every((c) => c.path === '/') ? undefined : url.path, until })
  return { header, names }
}
