import type { IncomingMessage } from 'node:http'
import { Pool, type Dispatcher } from 'undici'
import { PodsideError } from '../shared/errors.js'
import { UpstreamFailed, UpstreamTimeout, UpstreamUnreachable } from './errors.js'

export interface Upstream {
  /** Sends the request (body streamed from `req`) and resolves once the app's headers arrived. */
  forward (req: IncomingMessage, headers: string[], signal: AbortSignal): Promise<Dispatcher.ResponseData>
  close (): Promise<void>
}

export interface UpstreamOptions {
  origin: URL
  /** Longest wait for response headers, and between body chunks (ms). */
  timeoutMs: number
  /** Keep-alive connections kept to the app. */
  connections?: number
}

/**
 * The app behind the gateway, reached over a keep-alive undici Pool. Request bodies stream from
 * the client socket (never buffered); the caller pipes the response body the same way.
 */
export function createUpstream (opts: UpstreamOptions): Upstream {
  const pool = new Pool(opts.origin, {
    connections: opts.connections ?? 256,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 4_000, // below Node's 5 s server default, so the app never closes a socket we reuse
    connectTimeout: Math.min(opts.timeoutMs, 10_000)
  })
  return {
    async forward (req, headers, signal) {
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined
      try {
        return await pool.request({
          method: req.method as Dispatcher.HttpMethod,
          path: req.url ?? '/',
          headers,
          body: hasBody ? req : null,
          signal
        })
      } catch (err) {
        throw upstreamError(err)
      }
    },
    async close () {
      // Requests still open after the server drained belong to clients that are gone.
      await pool.destroy()
    }
  }
}

/** Maps undici's failures onto the gateway's catalogue (match on `code`). */
export function upstreamError (err: unknown): PodsideError {
  if (err instanceof PodsideError) return err
  const code = (err as { code?: string }).code ?? ''
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamTimeout(undefined, { cause: err })
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET') {
    return new UpstreamUnreachable(undefined, { cause: err })
  }
  return new UpstreamFailed(undefined, { cause: err })
}
