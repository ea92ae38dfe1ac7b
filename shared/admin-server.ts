import { createHash, timingSafeEqual } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { AdminBadRequest, AdminInternal, AdminNotFound, AdminUnauthorized } from './common-errors.js'
import type { PodsideError } from './errors.js'
import type { Logger } from './logger.js'

export type AdminRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>

export interface AdminOptions {
  log: Logger
  registry: Registry
  /** Resolves when the daemon can serve (its store is reachable); rejects with the reason. */
  ready: () => Promise<void>
  /** The daemon's own endpoints; return false when the path is not theirs. */
  routes?: AdminRoute
  /** `--admin-token`: `/v1/*` then needs `Authorization: Bearer <token>`. */
  token?: string
  /** True once the daemon drains after SIGTERM: `/readyz` is 503 from then on, so balancers stop sending. */
  draining?: () => boolean
}

/**
 * The private admin listener every daemon has: `/healthz` (the process answers), `/readyz` (its
 * dependencies answer: what a load balancer or Kubernetes should route on), `/metrics`.
 */
export function createAdminServer (opts: AdminOptions): http.Server {
  // Digests of equal length, so the comparison takes the same time whatever the guess (RFC 6750 §2.1 header).
  const expected = opts.token === undefined ? undefined : digest(opts.token)
  return http.createServer((req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://admin')
    } catch {
      // A target no URL parser takes (`/\\` reads as a host-less `//`): the client's error, not ours.
      sendErrorJson(res, new AdminBadRequest('malformed request target'), { connection: 'close' })
      return
    }
    route(req, res, url).catch((err: unknown) => {
      opts.log.error({ err, path: url.pathname }, 'admin request failed')
      if (!res.headersSent) sendErrorJson(res, new AdminInternal())
    })
  })

  function authorized (req: IncomingMessage): boolean {
    if (expected === undefined) return true
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
    return m?.[1] !== undefined && timingSafeEqual(digest(m[1]), expected as Buffer)
  }

  async function route (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' })
      if (url.pathname === '/readyz') {
        try {
          if (opts.draining?.() === true) throw new Error('shutting down')
          await opts.ready()
          return sendJson(res, 200, { status: 'ready' })
        } catch (err) {
          return sendJson(res, 503, { status: 'unavailable', reason: err instanceof Error ? err.message : String(err) })
        }
      }
      if (url.pathname === '/metrics') {
        const body = await opts.registry.metrics()
        res.writeHead(200, { 'content-type': opts.registry.contentType })
        return void res.end(body)
      }
    }
    if (url.pathname.startsWith('/v1/') && !authorized(req)) {
      return sendErrorJson(res, new AdminUnauthorized('Authorization: Bearer <--admin-token> required'), { 'www-authenticate': 'Bearer' })
    }
    if (opts.routes !== undefined && await opts.routes(req, res, url)) return
    sendErrorJson(res, new AdminNotFound())
  }
}

function sendErrorJson (res: ServerResponse, err: PodsideError, headers: Record<string, string> = {}): void {
  sendJson(res, err.statusCode, { error: { code: err.code, message: err.message } }, headers)
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(text)
}
