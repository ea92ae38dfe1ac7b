import { LRUCache } from 'lru-cache'
import type { SessionRecord } from './store.js'

/**
 * Sessions this process read from Redis lately, so a user's next requests skip the round trip
 * (the Redis round trip was about a third of the gateway's CPU per request with a session).
 * What keeps its answers the store's:
 *
 * - Invalidation. Every script that changes a session publishes the session's key, and every
 *   node drops that session. Redis may send the writer its reply before the message (measured),
 *   so the writer waits until its own subscription has seen Redis send it before the browser gets
 *   the answer (cached.ts, `announced`): a redirect after a write, which must travel writer
 *   → browser → other node, then finds the message already there. This node's own writes drop
 *   the session at once.
 * - Only while subscribed: when the subscription drops, the cache empties and stays off until it
 *   is back. A read that was in flight while anything was dropped is not kept (`ticket`). Under
 *   Cluster the subscription is one channel per bucket of slots (`parts`): a lost bucket empties the
 *   cache and only that bucket's sessions stay uncached until it is back.
 * - Freshness. An entry answers until the session's last-seen time is `touchEveryMs` old (≤ 10 s),
 *   when the store must record a new one anyway, and never past the absolute expiry. So even a
 *   message lost without the connection noticing is outlived by at most that, and the idle
 *   timeout stays as exact as without the cache.
 */
export interface SessionCache {
  /** The session, when the cache may answer (undefined: ask the store). */
  get (id: string, now: number): SessionRecord | undefined
  /** Taken before a store read; `put` keeps the read only if nothing was dropped meanwhile. */
  ticket (): number
  put (session: SessionRecord, ticket: number): void
  /** The session changed. */
  drop (id: string): void
  /** Several sessions changed. */
  clear (): void
  /** Whether invalidations are arriving; off, the cache empties and answers nothing. */
  setLive (live: boolean): void
  /** The same for one part (with `parts`): off, the cache empties and that part's sessions stay out. */
  setPartLive (part: number, live: boolean): void
  readonly live: boolean
  readonly bytes: number
  readonly entries: number
}

interface Entry { session: SessionRecord, freshUntil: number, part: number }

export interface SessionCacheOptions {
  maxBytes: number
  touchEveryMs: number
  /** Sessions fall in `count` parts, each live on its own (-1: a session never kept). */
  parts?: { count: number, of: (id: string) => number }
}

export function createSessionCache (opts: SessionCacheOptions): SessionCache {
  const entries = new LRUCache<string, Entry>({ maxSize: opts.maxBytes, sizeCalculation: (e) => sizeOf(e.session) })
  let live = false
  const partLive = new Array<boolean>(opts.parts?.count ?? 0).fill(false)
  // Bumped by every drop: a read that started before one may hold what was dropped.
  let generation = 0

  return {
    get (id, now) {
      if (!live) return undefined
      const e = entries.get(id)
      if (e === undefined) return undefined
      if (now >= e.freshUntil || (opts.parts !== undefined && !partLive[e.part])) {
        entries.delete(id)
        return undefined
      }
      return e.session
    },
    ticket: () => generation,
    put (session, ticket) {
      // A regenerated id answers only during its grace period: not worth keeping.
      if (!live || ticket !== generation || session.movedTo !== undefined) return
      const part = opts.parts?.of(session.id) ?? 0
      if (opts.parts !== undefined && partLive[part] !== true) return
      const freshUntil = Math.min(session.lastSeen + opts.touchEveryMs, session.absoluteExpiry)
      entries.set(session.id, { session, freshUntil, part })
    },
    drop (id) {
      generation++
      entries.delete(id)
    },
    clear () {
      generation++
      entries.clear()
    },
    setLive (on) {
      generation++
      entries.clear()
      live = on
    },
    setPartLive (part, on) {
      generation++
      if (!on) entries.clear()
      partLive[part] = on
    },
    get live () { return live },
    get bytes () { return entries.calculatedSize },
    get entries () { return entries.size }
  }
}

/** Roughly what an entry holds in memory (strings count once per character). */
function sizeOf (s: SessionRecord): number {
  let n = 200 + s.id.length + (s.user?.length ?? 0)
  for (const c of s.cookies) n += 100 + c.name.length + c.value.length + c.domain.length + c.path.length
  return n
}
