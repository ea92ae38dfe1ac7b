import type { IncomingHttpHeaders } from 'node:http'
import { getPublicSuffix } from 'tough-cookie'
import type { PublicUrl, SiteContext } from './jar.js'

/** RFC 9110 §9.2.1. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/**
 * Whether a request is cross-site, as the browser that sent it would judge (RFC 6265bis §5.8.3):
 * from Fetch Metadata (`Sec-Fetch-Site`, `-Mode`, `-Dest`) when present, else from `Origin`
 * (schemeful: another scheme or registrable domain is another site). A request with neither
 * (older browsers, scripts) counts as same-site, as the browser cookie already decided.
 */
export function siteContext (headers: IncomingHttpHeaders, method: string | undefined, url: PublicUrl): SiteContext {
  const fetchSite = headers['sec-fetch-site']
  let cross: boolean
  if (typeof fetchSite === 'string') cross = fetchSite.trim().toLowerCase() === 'cross-site'
  else cross = headers.origin !== undefined && crossOrigin(headers.origin, url)
  if (!cross) return 'same-site'
  return SAFE_METHODS.has(method ?? '') && topLevelNavigation(headers) ? 'cross-site-navigation' : 'cross-site'
}

/** A navigation of the top-level browsing context; without Fetch Metadata it cannot be told. */
function topLevelNavigation (headers: IncomingHttpHeaders): boolean {
  if (headers['sec-fetch-mode'] !== 'navigate') return false
  const dest = headers['sec-fetch-dest']
  return dest === undefined || dest === 'document'
}

function crossOrigin (origin: string, url: PublicUrl): boolean {
  if (origin === 'null') return true // an opaque origin (sandboxed frame, data: URL) is no site of ours
  let parsed: URL
  try { parsed = new URL(origin) } catch { return true }
  if ((parsed.protocol === 'https:') !== url.secure) return true
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return registrable(host) !== registrable(url.host)
}

/** The registrable domain (eTLD+1), or the host itself (an IP address, a single label). */
function registrable (host: string): string {
  try {
    return getPublicSuffix(host, { allowSpecialUseDomain: true }) ?? host
  } catch {
    return host
  }
}
