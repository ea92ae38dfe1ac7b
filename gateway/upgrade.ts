import { withoutQuery } from '../shared/access-log.js'
import { requestIdOf } from '../shared/request-id.js'
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { PodsideError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { clientView } from './forwarded.js'
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { checkFraming } from './request-framing.js'
import { refuseTasksPath } from './tasks-path.js'
import { upstreamError } from './proxy.js'
import type { createSessionCommitter } from './session-commit.js'
import { appRequestParts, loadSession, type SessionLoadDeps } from './session-load.js'

export interface UpgradeDeps extends SessionLoadDeps {
  origin: URL
  commit: ReturnType<typeof createSessionCommitter>
  log: Logger
  clock: () => number
  trustProxy: boolean
  cookieSamesite: 'lax' | 'strict' | 'none'
  retryAfterSeconds: number
  timeoutMs: number
  tasksPath?: string
}

/**
 * WebSocket (and other HTTP/1.1 Upgrade) requests: the same session steps as `handle()`, then the
 * two sockets are joined. Upgrades need a dedicated connection, so they bypass the keep-alive pool.
 */
export function createUpgradeHandler (deps: UpgradeDeps) {
  return function upgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const log = deps.log.child({ upgrade: true })
    socket.on('error', () => {}) // a client gone mid-handshake is not our failure
    run(req, socket, head, log).catch((err: unknown) => {
      const e = err instanceof PodsideError ? err : upstreamError(err)
      log.warn({ err, code: e.code, path: withoutQuery(req.url ?? '') }, 'upgrade failed')
      writeRawError(socket, e.statusCode, e.statusCode === 503 ? deps.retryAfterSeconds : undefined)
    })
  }

  async function run (req: IncomingMessage, socket: Duplex, head: Buffer, log: Logger): Promise<void> {
    checkFraming(req)
    refuseTasksPath(req, deps.tasksPath)
    const view = clientView(req, deps.trustProxy, deps.cookieSamesite === 'none')
    const now = deps.clock()
    const loaded = await loadSession(deps, req, now, log)
    const { session, storeUp } = loaded
    const parts = appRequestParts(loaded, view, now)
    parts.requestId = requestIdOf(req.headers, deps.trustProxy)
    const headers = upstreamRequestHeaders(req, parts)
    headers.push('connection', 'Upgrade', 'upgrade', req.headers.upgrade ?? 'websocket')

    const upstreamReq = http.request({
      host: deps.origin.hostname, port: deps.origin.port, method: req.method, path: req.url, headers, timeout: deps.timeoutMs
    })
    socket.once('close', () => upstreamReq.destroy())
    const answered = new Promise<{ res: IncomingMessage, upSocket?: Duplex, upHead?: Buffer }>((resolve, reject) => {
      upstreamReq.once('upgrade', (res, upSocket, upHead) => resolve({ res, upSocket, upHead }))
      upstreamReq.once('response', (res) => resolve({ res }))
      upstreamReq.once('timeout', () => upstreamReq.destroy(Object.assign(new Error('upstream timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' })))
      upstreamReq.once('error', reject)
    })
    req.pipe(upstreamReq)
    const { res, upSocket, upHead } = await answered
    let setCookies: string[] = []
    try {
      if (storeUp) setCookies = (await deps.commit(session, res.headers, view, { cookie: parts.cookie, stale: loaded.stale }, now, log)).setCookies
    } catch (err) {
      upSocket?.destroy()
      res.destroy()
      throw err
    }
    socket.write(responseHead(res, downstreamHeadersFor(res.headers, setCookies, upSocket !== undefined)))
    if (upSocket === undefined) {
      // The app declined the upgrade: relay its plain answer, then close.
      res.pipe(socket)
      return
    }
    // Either side closing ends both: a pipe does not pass a close on, and a socket left open to the
    // app would outlive the client (and hold the process at shutdown).
    upSocket.on('error', () => socket.destroy())
    upSocket.once('close', () => socket.destroy())
    socket.on('error', () => upSocket.destroy())
    socket.once('close', () => upSocket.destroy())
    if (upHead !== undefined && upHead.length > 0) socket.write(upHead)
    if (head.length > 0) upSocket.write(head)
    upSocket.pipe(socket).pipe(upSocket)
  }
}

function downstreamHeadersFor (headers: IncomingHttpHeaders, setCookies: string[], upgraded: boolean): string[] {
  const out = downstreamResponseHeaders(headers, setCookies)
  // Connection and Upgrade are hop-by-hop, but a 101 must name the protocol switched to.
  if (upgraded) out.push('connection', 'Upgrade', 'upgrade', String(headers.upgrade ?? 'websocket'))
  else out.push('connection', 'close')
  return out
}

function responseHead (res: IncomingMessage, headers: string[]): string {
  let head = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`
  return head + '\r\n'
}

function writeRawError (socket: Duplex, status: number, retryAfter: number | undefined): void {
  if (socket.destroyed) return
  const reason = http.STATUS_CODES[status] ?? 'Error'
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n${retryAfter === undefined ? '' : `retry-after: ${retryAfter}\r\n`}\r\n`)
}
