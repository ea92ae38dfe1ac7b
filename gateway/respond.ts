import type { ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { Dispatcher } from 'undici'
import { PodsideError } from '../shared/errors.js'
import { downstreamResponseHeaders } from './headers.js'

/** Streams the app's response to the browser with our headers; resolves when done or aborted. */
export async function sendUpstreamResponse (res: ServerResponse, upstream: Dispatcher.ResponseData, setCookies: readonly string[]): Promise<void> {
  res.writeHead(upstream.statusCode, downstreamResponseHeaders(upstream.headers, setCookies))
  await pipeline(upstream.body, res)
}

/** The gateway's own error answer: JSON with the stable code, plus Retry-After on 503. */
export function sendError (res: ServerResponse, err: unknown, retryAfterSeconds: number): void {
  if (res.headersSent) { res.destroy(); return }
  const e = err instanceof PodsideError ? err : new PodsideError('GW_ERR_INTERNAL', 'Internal Server Error', 500)
  const body = JSON.stringify({ error: { code: e.code, message: e.message } })
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store'
  }
  if (e.statusCode === 503) headers['retry-after'] = retryAfterSeconds
  if (e.statusCode === 400) headers.connection = 'close'
  res.writeHead(e.statusCode, headers)
  res.end(body)
}
