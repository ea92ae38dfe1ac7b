import type { IncomingMessage } from 'node:http'
import { hasCode } from '../shared/errors.js'
import { StoreUnavailable } from './errors.js'
import type { Logger } from '../shared/logger.js'
import { appCookieHeader } from './app-cookie.js'
import type { ClientView } from './forwarded.js'
import type { UpstreamRequestParts } from './headers.js'
import { readBrowserCookies, type BrowserCookies, type Signer } from './session-cookie.js'
import type { SessionRecord, SessionStore } from './store/store.js'

export interface LoadedSession {
  browser: BrowserCookies
  session: SessionRecord | undefined
  /** False when the store failed and `--store-failure open` let the request go on without it. */
  storeUp: boolean
  /**
   * The cookie's id was replaced by a regenerate that had answered (retired it) before this
   * request arrived: the request is not in flight, so it gets no session, and its answer changes none.
   */
  stale: boolean
}

export interface SessionLoadDeps {
  store: SessionStore
  signer: Signer
  cookieName: string
  storeFailure: 'closed' | 'open'
}

/**
 * The request's session: its cookie verified (an id is never taken on the client's word), then
 * loaded. A store failure throws GW_ERR_STORE_UNAVAILABLE (closed) or yields no session (open).
 */
export async function loadSession (deps: SessionLoadDeps, req: IncomingMessage, now: number, log: Logger): Promise<LoadedSession> {
  const browser = readBrowserCookies(req.headers.cookie, deps.cookieName)
  if (browser.ambiguous) log.warn('two different session cookies in one request (cookie tossing?): no session')
  const id = browser.sessionValue === undefined ? undefined : deps.signer.verify(browser.sessionValue)
  if (id === undefined) return { browser, session: undefined, storeUp: true, stale: false }
  try {
    const session = await deps.store.load(id, now)
    // Moved and retired before this request arrived: it was sent after the browser had the new id.
    if (session?.movedTo !== undefined && session.retiredAt > 0 && now >= session.retiredAt) {
      return { browser, session: undefined, storeUp: true, stale: true }
    }
    return { browser, session, storeUp: true, stale: false }
  } catch (err) {
    if (deps.storeFailure === 'closed' || !hasCode(err, StoreUnavailable.code)) throw err
    log.warn({ err }, 'store unreachable: proxying without the jar (--store-failure open)')
    return { browser, session: undefined, storeUp: false, stale: false }
  }
}

/**
 * What the app's request carries from the session: the Cookie header rebuilt from the jar (plus the
 * browser's own cookies) and the session id (the new one, for a request in flight during a
 * regenerate).
 */
export function appRequestParts (loaded: LoadedSession, view: ClientView, now: number): UpstreamRequestParts {
  const { browser, session } = loaded
  return {
    view,
    cookie: appCookieHeader(session?.cookies, browser.others, view.url, now, view.site, view.noneCrossSite),
    sessionId: session === undefined ? undefined : session.movedTo ?? session.id
  }
}
