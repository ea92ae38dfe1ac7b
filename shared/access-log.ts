import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Counter, Histogram } from 'prom-client'
import { pino } from 'pino'
import type { DestinationStream } from 'pino'
import type { LogSink } from './log-sink.js'
import { streamOf, type Logger } from './logger.js'

export interface AccessLogOptions {
  log: Logger
  /** The requests counter's child for a status (shared/metrics.ts `byStatus`). */
  count: (status: number) => Counter.Internal
  /** `…_request_duration_seconds`. */
  duration: Histogram
  /** The daemon's own fields, each `,"key":value`, read when the line is written. */
  tail: (entry: AccessEntry) => string
  /** Listen for 'finish' too, so `entry.finished` tells a complete answer (the gateway's `aborted`). */
  trackFinish?: boolean
}

/** One request's part of its access line; the handler sets `state` (session or source) as it goes. */
export class AccessEntry {
  finished = false
  constructor (
    readonly log: AccessLog,
    readonly req: IncomingMessage,
    readonly reqId: number,
    /** A UUID or a token of `[A-Za-z0-9._:@/+=-]` (shared/request-id.ts): nothing JSON escapes. */
    readonly requestId: string,
    public state: string,
    readonly started: number
  ) {}
}

export type AccessLog = ReturnType<typeof createAccessLog>

const ENTRY = Symbol('podside.access')
type Tracked = ServerResponse & { [ENTRY]: AccessEntry }
const INFO = 30 // pino's level number for info

/**
 * One access line per request, written (and its status counted) when the response closes: 499,
 * nginx's convention, when the client left before an answer. The line is built here in pino's
 * shape and handed to the logger's stream: pino's merge object went through redaction and a
 * generic serialiser, the largest cost of a request (docs/performance.md, "Access log at
 * defaults"). Listeners are shared functions finding the entry on the response: no closure per request.
 */
export function createAccessLog (opts: AccessLogOptions) {
  // The logger's bindings as pino writes them after `time` (`,"name":"gateway","pid":7`).
  const head = (opts.log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym]
  const stream = streamOf(opts.log) as DestinationStream & Partial<Pick<LogSink, 'batch'>>
  // The daemons' sink batches access lines; any other stream (tests, the demo) takes them as they come.
  const write = stream.batch?.bind(stream) ?? stream.write.bind(stream)
  const access = {
    start (req: IncomingMessage, res: ServerResponse, reqId: number, requestId: string, state: string): AccessEntry {
      const entry = new AccessEntry(access, req, reqId, requestId, state, performance.now())
      ;(res as Tracked)[ENTRY] = entry
      res.on('close', onClose)
      if (opts.trackFinish === true) res.on('finish', onFinish)
      return entry
    },
    closed (res: ServerResponse, entry: AccessEntry): void {
      const status = res.headersSent ? res.statusCode : 499
      const ms = performance.now() - entry.started
      opts.count(status).inc()
      opts.duration.observe(ms / 1000)
      if (opts.log.levelVal > INFO) return
      // method: Node's parser takes only the methods it knows (upper-case tokens), nothing to escape.
      write(`{"level":30,"time":${Date.now()}${head},"reqId":${entry.reqId},"method":"${entry.req.method ?? ''}","path":${JSON.stringify(withoutQuery(entry.req.url ?? ''))},"status":${status},"ms":${Math.round(ms * 100) / 100}${opts.tail(entry)},"msg":"request"}\n`)
    }
  }
  return access
}

function onClose (this: ServerResponse): void {
  const entry = (this as Tracked)[ENTRY]
  entry.log.closed(this, entry)
}

// 'finish' (the whole answer handed to the OS), not writableFinished, tells a complete answer:
// the latter is still false at 'close' while the socket drains its last bytes.
function onFinish (this: ServerResponse): void {
  (this as Tracked)[ENTRY].finished = true
}

/** The request target without its query, which may carry tokens (password resets, signed URLs). */
export function withoutQuery (target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}
