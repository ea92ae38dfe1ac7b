import { cookieKey, type JarCookie } from '../jar.js'
import { capExpiry, sessionEnd, type ApplyInput, type ApplyResult, type SessionRecord, type SessionStore, type StoreTimeouts } from './store.js'

interface Entry {
  created: number
  lastSeen: number
  absoluteExpiry: number
  /** When the entry may be dropped (the Redis store's key TTL). */
  end: number
  user: string | undefined
  movedTo: string | undefined
  /** Until when a regenerated entry still answers. */
  graceUntil: number
  retiredAt: number
  maxPersistent: number
  rotatedAt: number
  cookies: Map<string, JarCookie>
}

/**
 * Sessions in this process only: one node, no Redis. Same semantics as the Redis store, so the
 * same contract suite runs against both. Ended entries are dropped on access and by a sweep.
 */
export function createMemoryStore (t: StoreTimeouts, opts: { sweepMs?: number, clock?: () => number } = {}): SessionStore {
  const sessions = new Map<string, Entry>()
  const users = new Map<string, Set<string>>()
  const clock = opts.clock ?? Date.now
  const sweep = setInterval(() => {
    const now = clock()
    for (const [id, e] of sessions) if (now >= e.end) destroyOne(id)
  }, opts.sweepMs ?? 60_000)
  sweep.unref()

  /** The live entry, after applying the idle rule; undefined (and deleted) when it ended. */
  function live (id: string, now: number): Entry | undefined {
    const e = sessions.get(id)
    if (e === undefined) return undefined
    if (now >= e.absoluteExpiry || now >= e.end || (e.movedTo !== undefined && now >= e.graceUntil)) {
      destroyOne(id)
      return undefined
    }
    if (e.movedTo === undefined && now - e.lastSeen >= t.idleMs) {
      // Idle: session-only cookies end; the session lives on only for persistent ones.
      for (const [k, c] of e.cookies) if (c.expires === 0 || c.expires <= now) e.cookies.delete(k)
      if (e.cookies.size === 0) { destroyOne(id); return undefined }
    }
    return e
  }

  function record (id: string, e: Entry): SessionRecord {
    return {
      id,
      created: e.created,
      lastSeen: e.lastSeen,
      absoluteExpiry: e.absoluteExpiry,
      user: e.user,
      movedTo: e.movedTo,
      retiredAt: e.retiredAt,
      rotatedAt: e.rotatedAt,
      cookies: [...e.cookies.values()].map((c) => ({ ...c }))
    }
  }

  function touch (e: Entry, now: number): void {
    e.lastSeen = now
    e.end = sessionEnd(now, t.idleMs, e.maxPersistent, e.absoluteExpiry)
  }

  function destroyOne (id: string): Entry | undefined {
    const e = sessions.get(id)
    if (e === undefined) return undefined
    sessions.delete(id)
    const set = e.user === undefined ? undefined : users.get(e.user)
    set?.delete(id)
    if (set?.size === 0) users.delete(e.user as string)
    return e
  }

  return {
    kind: 'memory',
    async load (id, now) {
      const e = live(id, now)
      if (e === undefined) return undefined
      if (e.movedTo === undefined && now - e.lastSeen >= t.touchEveryMs) touch(e, now)
      return record(id, e)
    },
    async inspect (id, now) {
      const e = live(id, now)
      return e === undefined ? undefined : record(id, e)
    },
    async apply (id, input: ApplyInput, now): Promise<ApplyResult> {
      let e = live(id, now)
      if (e?.movedTo !== undefined) { id = e.movedTo; e = live(id, now) }
      if (e === undefined) {
        if (!input.create) return { status: 'gone' }
        e = { created: now, lastSeen: now, absoluteExpiry: now + t.absoluteMs, end: now, user: undefined, movedTo: undefined, graceUntil: 0, retiredAt: 0, maxPersistent: 0, rotatedAt: 0, cookies: new Map() }
        sessions.set(id, e)
      }
      let refused = 0
      for (const ch of input.changes) {
        if (ch.op === 'delete') { e.cookies.delete(cookieKey(ch.domain, ch.path, ch.name)); continue }
        const key = cookieKey(ch.cookie.domain, ch.cookie.path, ch.cookie.name)
        const old = e.cookies.get(key)
        if (old === undefined && e.cookies.size >= t.maxCookies) { refused++; continue }
        const expires = capExpiry(ch.cookie.expires, e.absoluteExpiry)
        // A replaced cookie keeps its creation time, so its place in the Cookie header (RFC 6265 §5.3 step 11.3).
        e.cookies.set(key, { ...ch.cookie, expires, created: old?.created ?? ch.cookie.created, order: old?.order ?? ch.cookie.order })
      }
      // The browser cookie's lifetime follows the jar as it is now (a deleted persistent cookie counts no more).
      e.maxPersistent = 0
      for (const c of e.cookies.values()) if (c.expires > now && c.expires > e.maxPersistent) e.maxPersistent = c.expires
      if (input.rotatedAt !== undefined) e.rotatedAt = input.rotatedAt
      if (input.user !== undefined && input.user !== e.user) {
        if (e.user !== undefined) users.get(e.user)?.delete(id)
        e.user = input.user
        let set = users.get(input.user)
        if (set === undefined) users.set(input.user, set = new Set())
        set.add(id)
      }
      touch(e, now)
      return { status: 'applied', id, absoluteExpiry: e.absoluteExpiry, persistent: e.maxPersistent > now + t.idleMs, refused }
    },
    async regenerate (oldId, newId, now) {
      const e = live(oldId, now)
      if (e === undefined || e.movedTo !== undefined) return false
      const copy: Entry = { ...e, cookies: new Map(e.cookies) }
      touch(copy, now)
      sessions.set(newId, copy)
      e.movedTo = newId
      e.graceUntil = now + t.graceMs
      if (e.user !== undefined) { users.get(e.user)?.delete(oldId); users.get(e.user)?.add(newId) }
      return true
    },
    async retire (oldId, at) {
      const e = sessions.get(oldId)
      if (e?.movedTo !== undefined) e.retiredAt = at
    },
    async destroy (id) {
      const e = destroyOne(id)
      if (e?.movedTo !== undefined) destroyOne(e.movedTo)
      return e !== undefined
    },
    async userSessions (user, now) {
      const ids = [...users.get(user) ?? []].filter((id) => live(id, now)?.user === user)
      return ids.sort()
    },
    async destroyUser (user, now) {
      const ids = [...users.get(user) ?? []].filter((id) => live(id, now)?.user === user)
      for (const id of ids) destroyOne(id)
      users.delete(user)
      return ids.length
    },
    async ping () {},
    async close () { clearInterval(sweep) }
  }
}
