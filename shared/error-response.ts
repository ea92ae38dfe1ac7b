import type { ServerResponse } from 'node:http'
import { Internal } from './common-errors.js'
import { PodsideError } from './errors.js'

/**
 * A daemon's own error answer: JSON `{"error":{"code","message"}}` with the stable code, never a
 * file-system path or stack. 503 carries Retry-After; 400 closes the connection (the rest of the
 * request cannot be trusted).
 */
export function sendError (res: ServerResponse, err: unknown, opts: { retryAfterSeconds?: number, headers?: Record<string, string> } = {}): void {
  if (res.headersSent) { res.destroy(); return }
  const e = err instanceof PodsideError ? err : new Internal()
  const body = JSON.stringify({ error: { code: e.code, message: e.message } })
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...opts.headers
  }
  if (e.statusCode === 503 && opts.retryAfterSeconds !== undefined) headers['retry-after'] = opts.retryAfterSeconds
  if (e.statusCode === 400) headers.connection = 'close'
  res.writeHead(e.statusCode, headers)
  res.end(res.req?.method === 'HEAD' ? undefined : body)
}
