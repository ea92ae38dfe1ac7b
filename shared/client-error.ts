import http, { type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from './logger.js'

/**
 * Answers what Node's parser refused (smuggling shapes, bare LF, oversized heads) with a raw
 * 400/408/431 and closes; such a request is never handled. `onRefused` counts it.
 */
export function refuseMalformedRequests (server: Server, log: Logger, onRefused: (status: number) => void): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // The client left mid-request (reset, or closed before the body was complete): nobody to answer.
    // Destroying the socket closes the response, which aborts whatever the request started.
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE') { socket.destroy(); return }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    onRefused(status)
    log.warn({ code: err.code, status, remote: socket.remoteAddress }, 'malformed request refused')
    // Never write a raw answer into a response already under way (it would corrupt the stream).
    const inFlight = (socket as Socket & { _httpMessage?: unknown })._httpMessage != null
    if (socket.writable && !inFlight) socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
    else socket.destroy()
  })
}
