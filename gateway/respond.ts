import type { ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { Dispatcher } from 'undici'
import { downstreamResponseHeaders } from './headers.js'

/** Streams the app's response to the browser with our headers; resolves when done or aborted. */
export async function sendUpstreamResponse (res: ServerResponse, upstream: Dispatcher.ResponseData, setCookies: readonly string[]): Promise<void> {
  res.writeHead(upstream.statusCode, downstreamResponseHeaders(upstream.headers, setCookies))
  await pipeline(upstream.body, res)
}
