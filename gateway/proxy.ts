import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { Pool, type Dispatcher } from 'undici'
import { PodsideError } from '../shared/errors.js'
import { ClientGone, UpstreamFailed, UpstreamTimeout, UpstreamUnreachable } from './errors.js'
import { guardedConnector } from './upstream-eof-guard.js'

/** What the browser gets in place of the app's head (status and filtered headers). */
export interface Head { statusCode: number, headers: string[] }

/**
 * Decides the browser's head from the app's. A promise holds the app's body back until it settles;
 * a plain answer lets the body stream on without pausing (pausing and resuming undici's parser
 * was a measurable share of a request that needed neither).
 */
export type OnHead = (statusCode: number, headers: IncomingHttpHeaders) => Head | Promise<Head>

export interface Upstream {
  /**
   * Sends `req` to the app (body streamed from the client socket). When the app's head arrives,
   * `onHead` decides what head the browser gets (at once, or later: e.g. once the jar is stored);
   * the body then streams to `res` with backpressure. Rejects with a catalogue error only while
   * nothing has been sent to the browser; later failures cut the response. A client that leaves
   * aborts the exchange.
   */
  forward (req: IncomingMessage, res: ServerResponse, headers: string[], onHead: OnHead): Promise<void>
  close (): Promise<void>
}

export interface UpstreamOptions {
  origin: URL
  /** Longest wait for response headers, and between body chunks (ms). */
  timeoutMs: number
  /** Keep-alive connections kept to the app. */
  connections?: number
  /** Largest response head accepted from the app (bytes): the jar's Set-Cookie lines must fit. */
  maxHeaderBytes: number
}

/**
 * The app behind the gateway, over a keep-alive undici Pool driven through its handler API
 * (`dispatch`): chunks go straight from the app's socket to the browser's, without a Readable,
 * a pipeline or a promise per chunk (the cheapest way measured: docs/decisions.md).
 */
export function createUpstream (opts: UpstreamOptions): Upstream {
  const pool = new Pool(opts.origin, {
    connections: opts.connections ?? 256,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 4_000, // below Node's 5 s server default, so the app never closes a socket we reuse
    maxHeaderSize: opts.maxHeaderBytes,
    connect: guardedConnector({ timeout: Math.min(opts.timeoutMs, 10_000) })
  })
  return {
    async forward (req, res, headers, onHead) {
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined
      await new Promise<void>((resolve, reject) => {
        const exchange = new Exchange(res, onHead, resolve, reject)
        try {
          pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body: hasBody ? req : null }, exchange)
        } catch (err) {
          reject(upstreamError(err))
        }
      })
    },
    async close () {
      // Requests still open after the server drained belong to clients that are gone.
      await pool.destroy()
    }
  }
}

type Controller = Dispatcher.DispatchController

/** One request's trip through the app, as undici's handler callbacks. */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Controller | undefined
  /** Set once the browser's head is written; chunks that come before wait in `queue`. */
  private headSent = false
  private ended = false
  private queue: Buffer[] = []
  private settled = false

  constructor (private readonly res: ServerResponse, private readonly onHead: OnHead,
    private readonly resolve: () => void, private readonly reject: (err: unknown) => void) {
    res.on('close', () => { if (!this.settled) this.controller?.abort(new ClientGone()) })
  }

  onRequestStart (controller: Controller): void {
    this.controller = controller
    if (this.res.destroyed) controller.abort(new ClientGone())
  }

  onResponseStart (controller: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return // 1xx: Node answers 100-continue to the client itself
    let head: Head | Promise<Head>
    try {
      head = this.onHead(statusCode, headers)
    } catch (err) {
      this.abandon(controller, err)
      return
    }
    if (!(head instanceof Promise)) {
      if (!this.res.destroyed) this.sendHead(head)
      return
    }
    controller.pause()
    head.then((h) => {
      if (this.res.destroyed) return
      this.sendHead(h)
      if (this.ended) this.finish()
      else controller.resume()
    }, (err: unknown) => { this.abandon(controller, err) })
  }

  private sendHead (head: Head): void {
    this.res.writeHead(head.statusCode, head.headers)
    this.headSent = true
    if (this.queue.length > 0) this.cork()
    for (const chunk of this.queue) this.res.write(chunk)
    this.queue = []
  }

  /** onHead failed: its error is the exchange's (settled first, so the abort's own error is not). */
  private abandon (controller: Controller, err: unknown): void {
    this.fail(err)
    controller.abort(err instanceof Error ? err : new Error(String(err)))
  }

  onResponseData (controller: Controller, chunk: Buffer): void {
    if (!this.headSent) { this.queue.push(chunk); return }
    this.cork()
    if (!this.res.write(chunk)) {
      controller.pause()
      this.res.once('drain', () => controller.resume())
    }
  }

  onResponseEnd (): void {
    this.ended = true
    if (this.headSent) this.finish()
  }

  onResponseError (_controller: Controller, err: Error): void {
    this.fail(upstreamError(err))
  }

  /**
   * Holds writes until the next tick, so a small body and the end that follows it in the same
   * parser run leave in one write to the socket instead of two (syscalls were most of the
   * gateway's CPU time); a streamed body is delayed by one tick at most.
   */
  private corked = false
  private cork (): void {
    if (this.corked) return
    this.corked = true
    this.res.cork()
    process.nextTick(() => { this.corked = false; this.res.uncork() })
  }

  private finish (): void {
    if (this.settled) return
    this.settled = true
    this.res.end()
    this.resolve()
  }

  private fail (err: unknown): void {
    if (this.settled) return
    this.settled = true
    if (this.headSent) { this.cut(); this.resolve() } else this.reject(err)
  }

  /**
   * The app failed after the browser's head was decided: the head and the bytes so far go out,
   * then the connection ends without the body's end (short of its Content-Length, or without the
   * last chunk), so the browser sees the app's status and an incomplete answer, never a whole one.
   */
  private cut (): void {
    if (this.res.destroyed) return
    if (this.corked) { this.corked = false; this.res.uncork() }
    this.res.flushHeaders()
    const socket = this.res.socket
    if (socket === null) this.res.destroy()
    else socket.destroySoon()
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
