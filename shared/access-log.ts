import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Counter } from 'prom-client'
import type { Logger } from './logger.js'

export interface AccessLogOptions {
  log: Logger
  /** The requests counter's child for a status (shared/metrics.ts `byStatus`). */
  count: (status: number) => Counter.Internal
  reqId: number
  /** `performance.now()` when the request arrived. */
  started: number
  /** The daemon's own fields, read when the line is written. */
  fields: () => Record<string, unknown>
}

/**
 * One access line per request, written (and its status counted) when the response closes: 499,
 * nginx's convention, when the client left before an answer. `on`, not `once`: a response closes
 * once, and `once` costs a wrapper per request.
 */
export function logAccess (req: IncomingMessage, res: ServerResponse, opts: AccessLogOptions): void {
  res.on('close', () => {
    const status = res.headersSent ? res.statusCode : 499
    opts.count(status).inc()
    opts.log.info({
      reqId: opts.reqId, method: req.method, path: withoutQuery(req.url ?? ''), status,
      ms: Math.round((performance.now() - opts.started) * 100) / 100, ...opts.fields()
    }, 'request')
  })
}

/** The request target without its query, which may carry tokens (password resets, signed URLs). */
export function withoutQuery (target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}
