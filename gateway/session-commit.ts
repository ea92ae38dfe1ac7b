import type { IncomingHttpHeaders } from 'node:http'
import { hasCode } from '../shared/errors.js'
import { StoreUnavailable } from './errors.js'
import type { Logger } from '../shared/logger.js'
import type { ClientView } from './forwarded.js'
import { firstValue } from '../shared/header-value.js'
import { setCookieLines } from './headers.js'
import { rotatedAppSessionCookie } from './app-session-rotation.js'
import { captureSetCookies, type Capture } from './jar.js'
import type { GatewayMetrics } from './metrics.js'
import { expiredSessionCookie, newSessionId, sessionSetCookie, type Signer } from './session-cookie.js'
import type { SessionRecord, SessionStore } from './store/store.js'

export type SessionState = 'none' | 'loaded' | 'created' | 'regenerated' | 'destroyed'

export interface CommitResult {
  /** `Set-Cookie` lines for the browser: relayed passthrough cookies and our own cookie. */
  setCookies: string[]
  state: SessionState
}

/** What the commit needs to know of the request besides its session. */
export interface CommitRequest {
  /** The Cookie header the app received, to tell when it replaced its session cookie. */
  cookie: string
  /** See `LoadedSession.stale`. */
  stale: boolean
}

export interface CommitDeps {
  store: SessionStore
  signer: Signer
  log: Logger
  metrics: GatewayMetrics
  cookieName: string
  clock: () => number
  cookieSecure: 'auto' | 'always' | 'never'
  cookieSameSite: 'lax' | 'strict' | 'none'
  passthrough: ReadonlySet<string>
  /** `--app-session-cookies`. */
  appSessionCookies: ReadonlySet<string>
  /** Told of each replacement of the app's session cookie, with the session's previous one (0: none). */
  onAppSessionRotation: (cookie: string, previousRotation: number, now: number) => void
  maxCookieBytes: number
  storeFailure: 'closed' | 'open'
}

const MAX_USER_LENGTH = 256

/** Whether the app's answer asks anything of the session: Set-Cookie lines or a Podside-Session directive. */
export function commitNeeded (headers: IncomingHttpHeaders): boolean {
  return headers['set-cookie'] !== undefined || headers['podside-session'] !== undefined || headers['podside-session-user'] !== undefined
}

/**
 * After the app answered: its Set-Cookie lines go into the jar, its `Podside-Session` directives
 * are carried out, and everything is stored before the response goes on (a redirect that lands on
 * another node must see it). Throws GW_ERR_STORE_UNAVAILABLE when the store cannot be written.
 */
export function createSessionCommitter (deps: CommitDeps) {
  return async function commit (session: SessionRecord | undefined, headers: IncomingHttpHeaders, view: ClientView, request: CommitRequest,
    now: number, log: Logger): Promise<CommitResult> {
    const capture = captureSetCookies(setCookieLines(headers['set-cookie']), view.url,
      { passthrough: deps.passthrough, maxCookieBytes: deps.maxCookieBytes, now })
    for (const r of capture.refused) log.warn({ cookie: r.name, reason: r.reason }, 'set-cookie refused')
    try {
      return await commitToStore(session, headers, capture, view, request, now, log)
    } catch (err) {
      if (deps.storeFailure === 'closed' || !hasCode(err, StoreUnavailable.code)) throw err
      log.warn({ err }, 'store unreachable: the app\'s cookies were not stored (--store-failure open)')
      // Passthrough cookies need no store: they still reach the browser.
      return { setCookies: capture.relayed, state: session === undefined ? 'none' : 'loaded' }
    }
  }

  async function commitToStore (session: SessionRecord | undefined, headers: IncomingHttpHeaders, capture: Capture, view: ClientView,
    request: CommitRequest, now: number, log: Logger): Promise<CommitResult> {
    const directive = firstValue(headers['podside-session'])?.trim().toLowerCase()
    const user = firstValue(headers['podside-session-user'])?.trim()
    const cookieOpts = {
      name: deps.cookieName,
      sameSite: deps.cookieSameSite,
      secure: deps.cookieSecure === 'always' || (deps.cookieSecure === 'auto' && view.url.secure)
    }
    const setCookies = [...capture.relayed]
    if (request.stale) {
      // Neither the old session (replaced) nor a new one (its cookie would log the browser out of
      // the new id it holds): the browser keeps what it has.
      if (capture.changes.length > 0 || directive !== undefined) log.info('request with a replaced session id: its session changes were dropped')
      return { setCookies, state: 'none' }
    }

    if (directive === 'destroy') {
      if (session !== undefined) await deps.store.destroy(session.id)
      return { setCookies: [...setCookies, expiredSessionCookie(cookieOpts)], state: 'destroyed' }
    }
    if (directive !== undefined && directive !== 'regenerate') log.warn({ directive }, 'unknown Podside-Session directive ignored')
    if (user !== undefined && (user === '' || user.length > MAX_USER_LENGTH)) log.warn({ length: user.length }, 'Podside-Session-User ignored: empty or too long')
    const validUser = user !== undefined && user !== '' && user.length <= MAX_USER_LENGTH ? user : undefined

    let id = session?.movedTo ?? session?.id
    let state: SessionState = session === undefined ? 'none' : 'loaded'
    let issue = false
    let replaced: string | undefined
    const rotated = rotatedAppSessionCookie(capture.changes, request.cookie, deps.appSessionCookies)
    if (rotated !== undefined) deps.onAppSessionRotation(rotated, session?.rotatedAt ?? 0, now)
    // The app regenerated its session id (its login): ours follows, or a planted cookie would ride along.
    if ((directive === 'regenerate' || rotated !== undefined) && id !== undefined) {
      const newId = newSessionId()
      if (await deps.store.regenerate(id, newId, now)) { replaced = id; id = newId; state = 'regenerated'; issue = true }
    }
    if (capture.changes.length === 0 && validUser === undefined && !issue) return await retired({ setCookies, state })

    const create = id === undefined
    if (id === undefined) id = newSessionId()
    const result = await deps.store.apply(id, { changes: capture.changes, create, user: validUser, rotatedAt: rotated === undefined ? undefined : now }, now)
    if (result.status === 'gone') {
      // Ended while this request was in flight (logout elsewhere wins): nothing to keep. No podside
      // cookie either: an id that was regenerated and then outlived its grace is gone too, and the
      // browser may hold the new id by now.
      log.info('session ended during the request; its cookies were dropped')
      return { setCookies, state: 'destroyed' }
    }
    if (result.refused > 0) log.warn({ refused: result.refused }, 'jar full: cookies refused')
    if (create) { state = 'created'; issue = true; deps.metrics.sessionsCreated.inc() }
    // The browser's cookie is session-only while no cookie of the jar outlives the idle timeout, and
    // persists to the absolute expiry otherwise, as the app's own cookie would have: it is set again
    // when that changes (a logout that deleted the persistent cookie ends it). Not on every write: a
    // write racing a regenerate on another node would hand the browser the replaced id.
    if (result.persistent !== result.wasPersistent) issue = true
    // The answer landed on the id that replaced the browser's (a regenerate elsewhere while in flight).
    if (session !== undefined && result.id !== session.id) issue = true
    if (issue) {
      const maxAgeSeconds = result.persistent ? Math.max(1, Math.floor((result.absoluteExpiry - now) / 1000)) : undefined
      setCookies.push(sessionSetCookie(deps.signer.sign(result.id), { ...cookieOpts, maxAgeSeconds }))
    }
    return await retired({ setCookies, state })

    /**
     * Last, once everything is stored: requests with the replaced id that arrive from now on are
     * not in flight (DESIGN: they get no session), and the browser learns the new id only after.
     */
    async function retired (r: CommitResult): Promise<CommitResult> {
      if (replaced !== undefined) await deps.store.retire(replaced, deps.clock())
      return r
    }
  }
}
