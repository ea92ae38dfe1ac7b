import { jarCookieHeader, type JarCookie, type PublicUrl } from './jar.js'

/**
 * The Cookie header the app receives: the jar's matching cookies first, then the browser's own
 * cookies that the jar does not hold (a jar cookie wins over a browser cookie of the same name).
 * The gateway's session cookie was already taken out of `browserOthers`.
 */
export function appCookieHeader (jar: readonly JarCookie[] | undefined, browserOthers: ReadonlyArray<{ name: string, pair: string }>,
  url: PublicUrl, now: number): string {
  if (jar === undefined || jar.length === 0) return browserOthers.map((c) => c.pair).join('; ')
  const { header, names } = jarCookieHeader(jar, url, now)
  const rest = browserOthers.filter((c) => !names.has(c.name)).map((c) => c.pair)
  return header === '' ? rest.join('; ') : rest.length === 0 ? header : `${header}; ${rest.join('; ')}`
}
