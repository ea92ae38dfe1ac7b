import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** A request id someone else gave is kept only if it is a short token (it goes into logs and headers). */
const TOKEN = /^[A-Za-z0-9._:@/+=-]{1,128}$/

/**
 * The id that ties a request's log lines together across the proxy in front, podside and the app:
 * the `X-Request-Id` the client sent when it is trusted (our own proxy in front), else a new UUID.
 */
export function requestIdOf (headers: IncomingHttpHeaders, trusted: boolean): string {
  const given = headers['x-request-id']
  return trusted && typeof given === 'string' && TOKEN.test(given) ? given : randomUUID()
}
