import type { Counter } from 'prom-client'
import type { Logger } from '../shared/logger.js'
import type { JarChange } from './jar.js'

/**
 * The app's own session cookie (`--app-session-cookies`: PHPSESSID, JSESSIONID…) given a new value
 * in an answer to a request that carried it: the app regenerated its session id (a login), so the
 * gateway regenerates its own, and a `podside` cookie planted before the login stays anonymous.
 * Returns the cookie's name, or undefined.
 */
export function rotatedAppSessionCookie (changes: readonly JarChange[], sentCookie: string, names: ReadonlySet<string>): string | undefined {
  if (names.size === 0) return undefined
  let sent: Map<string, string> | undefined
  for (const ch of changes) {
    if (ch.op !== 'set' || !names.has(ch.cookie.name)) continue
    sent ??= cookiePairs(sentCookie)
    const before = sent.get(ch.cookie.name)
    if (before !== undefined && before !== ch.cookie.value) return ch.cookie.name
  }
  return undefined
}

/** The first value of each name in a Cookie header (RFC 6265 §4.2.1), as the app read it. */
function cookiePairs (header: string): Map<string, string> {
  const pairs = new Map<string, string>()
  for (const raw of header.split(';')) {
    const eq = raw.indexOf('=')
    if (eq === -1) continue
    const name = raw.slice(0, eq).trim()
    if (!pairs.has(name)) pairs.set(name, raw.slice(eq + 1).trim())
  }
  return pairs
}

export interface ResetWatchDeps {
  log: Logger
  resets: Counter<'cookie'>
  /** Two replacements closer than this are not logins: the app keeps its sessions on the node (ms). */
  windowMs: number
  /** Least time between two warnings for one cookie name (ms). */
  warnEveryMs: number
}

/**
 * Notices an app whose sessions live on one node (PHP's file sessions, express-session's
 * MemoryStore): each node it did not log in on answers the carried id with a new one, so the
 * replacements come again and again. An app that silently adopts an unknown id cannot be noticed.
 */
export function createResetWatch (deps: ResetWatchDeps) {
  const warned = new Map<string, number>()
  return function observe (cookie: string, previousRotation: number, now: number): void {
    if (previousRotation === 0 || now - previousRotation >= deps.windowMs) return
    deps.resets.labels(cookie).inc()
    if (now - (warned.get(cookie) ?? -Infinity) < deps.warnEveryMs) return
    warned.set(cookie, now)
    deps.log.warn({ cookie, withinMs: now - previousRotation },
      'the app replaced its session cookie again soon after the last time: it probably keeps sessions on each node (see README, "Will my app work?")')
  }
}
