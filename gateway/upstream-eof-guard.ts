import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { buildConnector } from 'undici'

/**
 * undici 7's HTTP/1 parser throws an uncatchable `assert(!this.paused)` when the app closes a
 * connection (FIN, reset, close) while the gateway holds the answer paused: the jar being stored,
 * or a slow browser. PHP's built-in server answers a login exactly so (nodejs/undici#5360, fixed in
 * undici 8 by #5474, which needs Node 22). Until podside can require Node 22, every socket of the
 * pool gets this guard: before undici's own end/error/close handlers run, a paused parser is
 * resumed and drained as #5474 does, so the answer completes or fails as an ordinary error.
 * undici is pinned exactly (package.json): the guard reads its parser through its symbol.
 */

interface Llhttp { llhttp_resume (ptr: number): void }
interface Parser {
  paused: boolean
  ptr: number | null
  statusCode: number
  shouldKeepAlive: boolean
  llhttp: Llhttp
  execute (chunk: Buffer): void
}

const require = createRequire(import.meta.url)
const { kParser } = require('undici/lib/core/symbols.js') as { kParser: symbol }
const EMPTY = Buffer.alloc(0)

/** Whether a socket carries undici's parser where the guard looks for it (checked by the tests). */
export function parserOf (socket: Socket): Parser | undefined {
  return (socket as unknown as Record<symbol, Parser | null | undefined>)[kParser] ?? undefined
}

/**
 * The fix of nodejs/undici#5474, applied from outside: backpressure is advisory once the peer is
 * gone, so the parser is resumed across pauses until the socket's buffer is empty. A body framed by
 * length completes during `execute`; one delimited by the close completes in undici's `finish()`,
 * which now finds the parser running.
 */
export function unpauseForEof (socket: Socket): void {
  const parser = parserOf(socket)
  // undici calls finish() only for an answer in progress that does not keep the connection.
  if (parser === undefined || !parser.paused || parser.ptr === null || parser.statusCode === 0 || parser.shouldKeepAlive) return
  let data: Buffer
  do {
    parser.llhttp.llhttp_resume(parser.ptr)
    parser.paused = false
    data = socket.destroyed ? EMPTY : (socket.read() as Buffer | null) ?? EMPTY
    parser.execute(data)
  } while (parser.paused && parser.ptr !== null && data.length > 0)
  if (parser.paused && parser.ptr !== null) {
    parser.llhttp.llhttp_resume(parser.ptr)
    parser.paused = false
  }
}

/** undici's default connector, with the guard placed ahead of undici's listeners on every socket. */
export function guardedConnector (opts: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = buildConnector(opts)
  return (options, callback) => connect(options, (err, socket) => {
    // A failed connect hands over no socket (undefined, although the types say null).
    if (err === null && socket !== null && socket !== undefined) {
      const s = socket as Socket
      s.prependListener('end', () => { unpauseForEof(s) })
      s.prependListener('close', () => { unpauseForEof(s) })
      s.prependListener('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET') unpauseForEof(s) })
    }
    callback(err as Error, socket as never)
  })
}
