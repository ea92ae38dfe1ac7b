import type { IncomingMessage, ServerResponse } from 'node:http'
import { hasCode } from '../shared/errors.js'
import { BadRequest, StoreUnavailable } from './errors.js'
import { createAccessLog, type AccessEntry } from '../shared/access-log.js'
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

/** The gateway's fields of the access line: `requestId`, `session` (README, Logs), `aborted`. */
function tail (e: AccessEntry): string {
  return `,"requestId":"${e.requestId}","session":"${e.state}","aborted":${!e.finished}`
}

/**
 * One request, top to bottom: framing → public view → session cookie → jar → app → Set-Cookie
 * into the jar → browser. Each step is one call into the file beside this one.
 */
export function createHandler (deps: HandlerDeps) {
  let seq = 0
  const access = createAccessLog({ log: deps.log, count: deps.metrics.requestsWith, duration: deps.metrics.requestSeconds, tail, trackFinish: true })
  return async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId = ++seq
    const requestId = requestIdOf(req.headers, deps.trustProxy)
    const log = lazyChild(deps.log, { reqId, requestId })
    // entry.state: the session as the access line reports it (none, loaded, then the commit's outcome).
    const entry = access.start(req, res, reqId, requestId, 'none')
    try {
      checkFraming(req)
      refuseTasksPath(req, deps.tasksPath)
      const view = clientView(req, deps.trustProxy, deps.cookieSamesite === 'none')
      const now = deps.clock()
      const loaded = await loadSession(deps, req, now, log)
      const { session, storeUp } = loaded
      if (session !== undefined) entry.state = 'loaded'

      const parts = appRequestParts(loaded, view, now)
      parts.requestId = requestId
      const headers = upstreamRequestHeaders(req, parts)
      const upstreamStarted = performance.now()
      await deps.upstream.forward(req, res, headers, (statusCode, appHeaders) => {
        deps.metrics.upstreamSeconds.observe((performance.now() - upstreamStarted) / 1000)
        const browserHead = (outcome: CommitResult): Head => {
          entry.state = outcome.state
          return { statusCode, headers: downstreamResponseHeaders(appHeaders, outcome.setCookies) }
        }
        // Most answers carry nothing for the jar: their head goes out at once. Otherwise the jar
        // is stored before the browser sees anything, so a redirect to another node sees it.
        if (!storeUp || !commitNeeded(appHeaders)) return browserHead({ setCookies: [], state: entry.state as SessionState })
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

