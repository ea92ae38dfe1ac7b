import type { JarChange, JarCookie } from '../jar.js'

/** A session as the store holds it. Times are epoch ms. */
export interface SessionRecord {
  id: string
  created: number
  lastSeen: number
  /** No session outlives this (`--absolute-timeout` after creation). */
  absoluteExpiry: number
  user: string | undefined
  cookies: JarCookie[]
  /** Set during the grace period after `regenerate`: the id that replaced this one. */
  movedTo: string | undefined
  /** When the regenerate that moved it was about to answer (`retire`, epoch ms; 0 = not yet). */
  retiredAt: number
  /** When the app last replaced its own session cookie (epoch ms, 0 = never): `--app-session-cookies`. */
  rotatedAt: number
}

export interface ApplyInput {
  changes: readonly JarChange[]
  /** Create the session if it does not exist (false: a session that vanished stays gone). */
  create: boolean
  /** Index the session under this user (`Podside-Session-User`). */
  user?: string
  /** The app replaced its own session cookie in this answer, at this time (epoch ms). */
  rotatedAt?: number
}

export type ApplyResult =
  | {
    status: 'applied'
    /** The id written to (differs from the one asked for when that one was regenerated meanwhile). */
    id: string
    absoluteExpiry: number
    /** The jar, as it is after these changes, holds a cookie that outlives the idle timeout (so the browser cookie must persist). */
    persistent: boolean
    /** Changes dropped because the jar was full. */
    refused: number
  }
  | { status: 'gone' }

export interface StoreTimeouts {
  idleMs: number
  absoluteMs: number
  /** How long a regenerated id keeps working (requests in flight). */
  graceMs: number
  maxCookies: number
  /**
   * A read records "last seen" only when the last record is older than this: every request would
   * otherwise be a write to Redis (and to its replicas). The idle timeout is then exact to within it.
   */
  touchEveryMs: number
}

/** 1% of the idle timeout, at most 10 s. */
export function touchGranularity (idleMs: number): number {
  return Math.min(Math.floor(idleMs / 100), 10_000)
}

/**
 * Where sessions live. Two implementations (memory, Redis) pass one contract test suite
 * (test/gateway/store/contract.ts). Every call takes `now` so tests can move time without waiting.
 * Writes are per cookie and atomic per response: parallel responses never lose each other's cookies.
 */
export interface SessionStore {
  readonly kind: 'memory' | 'redis'
  /** The session for a request; extends its idle deadline. Undefined when unknown or ended. */
  load (id: string, now: number): Promise<SessionRecord | undefined>
  /** Applies one response's jar changes (and user) in one atomic step. */
  apply (id: string, input: ApplyInput, now: number): Promise<ApplyResult>
  /**
   * Moves the jar to `newId`; `oldId` keeps answering for `graceMs`, for requests in flight. False
   * when `oldId` is unknown. No answer ever finds `oldId` moved and `newId` missing.
   */
  regenerate (oldId: string, newId: string, now: number): Promise<boolean>
  /**
   * The regenerate is stored and its answer is about to go out: a request that arrives with
   * `oldId` from `at` on is not in flight (it gets no session).
   */
  retire (oldId: string, at: number): Promise<void>
  /** Deletes the session (and its successor, when it was regenerated). */
  destroy (id: string): Promise<boolean>
  /** Like load, without touching (admin API). */
  inspect (id: string, now: number): Promise<SessionRecord | undefined>
  userSessions (user: string, now: number): Promise<string[]>
  destroyUser (user: string, now: number): Promise<number>
  /** Throws when the store cannot be reached (readiness). */
  ping (): Promise<void>
  close (): Promise<void>
}

/** When the whole session ends if nothing happens: idle deadline or last persistent cookie, capped. */
export function sessionEnd (now: number, idleMs: number, maxPersistent: number, absoluteExpiry: number): number {
  return Math.min(absoluteExpiry, Math.max(now + idleMs, maxPersistent))
}

/** Cookie expiry capped by the session's absolute expiry (`--absolute-timeout`). */
export function capExpiry (expires: number, absoluteExpiry: number): number {
  return expires === 0 ? 0 : Math.min(expires, absoluteExpiry)
}
