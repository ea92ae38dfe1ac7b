import type { IncomingMessage } from 'node:http'
import { withoutQuery } from '../shared/access-log.js'
import type { TLSSocket } from 'node:tls'
import type { PublicUrl, SiteContext } from './jar.js'
import { siteContext } from './same-site.js'

/** What the browser used, which is what cookies are matched against, and what the app is told. */
export interface ClientView {
  url: PublicUrl
  proto: 'http' | 'https'
  /** Host header as the browser sent it (with port), for X-Forwarded-Host. */
  host: string
  /** X-Forwarded-For to send on: the chain we were given (when trusted) plus the peer. */
  forwardedFor: string
  /** Whether the browser made this request from another site (which of the jar's cookies it gets). */
  site: SiteContext
  /** `--trust-proxy`: the client is the operator's proxy, whose forwarding fields reach the app. */
  trusted: boolean
  /** `--cookie-samesite none`: SameSite=None jar cookies may go with cross-site requests. */
  noneCrossSite: boolean
}

const first = (v: string | string[] | undefined): string | undefined =>
  (Array.isArray(v) ? v[0] : v)?.split(',')[0].trim() || undefined

/**
 * Reads the public scheme and host. Client-sent X-Forwarded-* are believed only with
 * `--trust-proxy` (the gateway then sits behind a proxy of the operator's that sets them).
 */
export function clientView (req: IncomingMessage, trustProxy: boolean, noneCrossSite = false): ClientView {
  const tls = (req.socket as TLSSocket).encrypted === true
  const fwdProto = trustProxy ? first(req.headers['x-forwarded-proto'])?.toLowerCase() : undefined
  const proto = tls || fwdProto === 'https' ? 'https' : 'http'
  const host = (trustProxy ? first(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host ?? ''
  const peer = req.socket.remoteAddress ?? ''
  const prior = trustProxy ? req.headers['x-forwarded-for'] : undefined
  const url = { host: hostName(host), path: requestPath(req.url ?? '/'), secure: proto === 'https' }
  return {
    url,
    site: siteContext(req.headers, req.method, url),
    trusted: trustProxy,
    noneCrossSite,
    proto,
    host,
    forwardedFor: prior === undefined || prior === '' ? peer : `${Array.isArray(prior) ? prior.join(', ') : prior}, ${peer}`
  }
}

/** `Example.com:8080` → `example.com`; `[::1]:8080` → `::1`. */
export function hostName (host: string): string {
  const h = host.toLowerCase()
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'))
  const colon = h.indexOf(':')
  return colon === -1 ? h : h.slice(0, colon)
}

/** The path part of the request target (RFC 9112 §3.2: origin-form, or absolute-form from a proxy). */
export function requestPath (target: string): string {
  let path = target
  if (!path.startsWith('/')) {
    try { path = new URL(path).pathname } catch { return '/' }
  }
  return withoutQuery(path)
}
