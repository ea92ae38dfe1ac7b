import type { IncomingMessage, ServerResponse } from 'node:http'
import { hasCode } from '../shared/errors.js'
import { BadRequest, StoreUnavailable } from './errors.js'
import { logAccess } from '../shared/access-log.js'
import { requestIdOf } from '../shared/request-id.js'
import { lazyChild, type Logger } from '../shared/logger.js'
import { clientView } from './forwarded.js'
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { checkFraming } from './request-framing.js'
import { refuseTasksPath } from './tasks-path.js'
import { sendError } from '../shared/error-response.js'
import type { Signer } from './session-cookie.js'
import { appRequestParts, loadSession } from './session-load.js'
import { commitNeeded, type CommitResult, type SessionState, type createSessionCommitter } from './session-commit.js'
import type { GatewayMetrics } from './metrics.js'
import type { Head, Upstream } from './proxy.js'
import type { SessionStore } from './store/store.js'

export interface HandlerDeps {
  store: SessionStore
  upstream: Upstream
  signer: Signer
  commit: ReturnType<typeof createSessionCommitter>
  log: Logger
  metrics: GatewayMetrics
  clock: () => number
  cookieName: string
  trustProxy: boolean
  cookieSamesite: 'lax' | 'strict' | 'none'
  storeFailure: 'closed' | 'open'
  retryAfterSeconds: number
  /** With `--tasks`: public requests under it are 404 (the app's task endpoints are for its sidecar). */
  tasksPath?: string
}

/**
 * One request, top to bottom: framing → public view → session cookie → jar → app → Set-Cookie
 * into the jar → browser. Each step is one call into the file beside this one.
 */
export function createHandler (deps: HandlerDeps) {
  let seq = 0
  return async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId = ++seq
    const requestId = requestIdOf(req.headers, deps.trustProxy)
    const log = lazyChild(deps.log, { reqId, requestId })
    let state: SessionState = 'none'
    // 'finish' (the whole answer handed to the OS), not writableFinished, tells a complete answer:
    // the latter is still false at 'close' while the socket drains its last bytes.
    let finished = false
    res.on('finish', () => { finished = true })
    logAccess(req, res, { log: deps.log, count: deps.metrics.requestsWith, duration: deps.metrics.requestSeconds, reqId, started: performance.now(), fields: () => ({ requestId, session: state, aborted: !finished }) })
    try {
      checkFraming(req)
      refuseTasksPath(req, deps.tasksPath)
      const view = clientView(req, deps.trustProxy, deps.cookieSamesite === 'none')
      const now = deps.clock()
      const loaded = await loadSession(deps, req, now, log)
      const { session, storeUp } = loaded
      if (session !== undefined) state = 'loaded'

      const parts = appRequestParts(loaded, view, now)
      parts.requestId = requestId
      const headers = upstreamRequestHeaders(req, parts)
      const upstreamStarted = performance.now()
      await deps.upstream.forward(req, res, headers, (statusCode, appHeaders) => {
        deps.metrics.upstreamSeconds.observe((performance.now() - upstreamStarted) / 1000)
        const browserHead = (outcome: CommitResult): Head => {
          state = outcome.state
          return { statusCode, headers: downstreamResponseHeaders(appHeaders, outcome.setCookies) }
        }
        // Most answers carry nothing for the jar: their head goes out at once. Otherwise the jar
        // is stored before the browser sees anything, so a redirect to another node sees it.
        if (!storeUp || !commitNeeded(appHeaders)) return browserHead({ setCookies: [], state })
        return deps.commit(session, appHeaders, view, { cookie: parts.cookie, stale: loaded.stale }, now, log).then(browserHead)
      })
    } catch (err) {
      if (!res.headersSent && !res.destroyed) {
        const level = hasCode(err, StoreUnavailable.code) || hasCode(err, BadRequest.code) ? 'warn' : 'error'
        log[level]({ err }, 'request failed')
      }
      sendError(res, err, { retryAfterSeconds: deps.retryAfterSeconds })
    }
  }
}

