import { createChannelSubscriber, type ChannelSubscriber } from '../../shared/channel-subscriber.js'
import type { Logger } from '../../shared/logger.js'
import type { RedisTarget } from '../../shared/redis-url.js'
import { createSessionCache, type SessionCache } from './session-cache.js'
import { idOfSessionKey, invalidationChannel } from './redis.js'
import type { SessionStore } from './store.js'

export interface CachedStoreHooks {
  hit: () => void
  miss: () => void
  /**
   * Resolves once the invalidation this process's write just published has been sent to every
   * node (see session-cache.ts); called before the write's answer goes to the browser.
   */
  announced: () => Promise<void>
}

/**
 * The store with the session cache in front of its reads. This process's own writes drop the
 * session here at once; other nodes drop it when the invalidation message arrives, which the
 * writer waits for (`announced`) before its answer can send the browser anywhere else.
 */
export function cacheStore (store: SessionStore, cache: SessionCache, hooks: CachedStoreHooks): SessionStore {
  /**
   * Drops after the write (also a failed one: it may have happened), so a read that started before
   * it is not kept either (ticket). Waits for the announcement only when the write succeeded: a
   * failed one already cost the request its `--redis-timeout`.
   */
  async function written<T> (ids: () => string[], write: Promise<T>): Promise<T> {
    let result: T
    try {
      result = await write
    } finally {
      for (const id of ids()) cache.drop(id)
    }
    await hooks.announced()
    return result
  }
  return {
    ...store,
    async load (id, now) {
      const cached = cache.get(id, now)
      if (cached !== undefined) { hooks.hit(); return cached }
      hooks.miss()
      const ticket = cache.ticket()
      const session = await store.load(id, now)
      if (session !== undefined) cache.put(session, ticket)
      return session
    },
    async apply (id, input, now) {
      let writtenTo = id
      return await written(() => [id, writtenTo], store.apply(id, input, now).then((r) => {
        if (r.status === 'applied') writtenTo = r.id
        return r
      }))
    },
    regenerate: async (oldId, newId, now) => await written(() => [oldId], store.regenerate(oldId, newId, now)),
    retire: async (oldId, at) => await written(() => [oldId], store.retire(oldId, at)),
    destroy: async (id) => await written(() => [id], store.destroy(id)),
    destroyUser: async (user, now) => {
      // Which ids ended is not returned: drop every session kept here (a rare admin call).
      const ended = await written(() => [], store.destroyUser(user, now))
      cache.clear()
      return ended
    }
  }
}

export interface CachedStoreOptions {
  target: RedisTarget
  maxBytes: number
  touchEveryMs: number
  /** Longest wait for a write's announcement (`--redis-timeout`). */
  timeoutMs: number
  log: Logger
  counts: { hit: () => void, miss: () => void }
}

/**
 * The Redis store behind a session cache kept live by its own subscription to the invalidation
 * channel (closed with the store).
 */
export function createCachedStore (store: SessionStore, opts: CachedStoreOptions): SessionStore {
  const cache = createSessionCache({ maxBytes: opts.maxBytes, touchEveryMs: opts.touchEveryMs })
  const invalidations = createChannelSubscriber(opts.target, {
    channel: invalidationChannel(),
    timeoutMs: opts.timeoutMs,
    log: opts.log,
    onMessage (key) {
      const id = idOfSessionKey(key)
      if (id !== undefined) cache.drop(id)
    },
    onSubscribed: () => cache.setLive(true),
    onLost () {
      cache.setLive(false)
      opts.log.warn('session invalidations lost: the session cache is off until they are back')
    }
  })
  const cached = cacheStore(store, cache, { ...opts.counts, announced: waitAnnounced(invalidations, opts.timeoutMs) })
  const withClose: SessionStore = {
    ...cached,
    async close () {
      await invalidations.close()
      await store.close()
    }
  }
  cachesOf.set(withClose, cache)
  return withClose
}

const cachesOf = new WeakMap<SessionStore, SessionCache>()

/** Sessions held by the store's session cache (the fleet registry shows it); undefined without one. */
export function sessionsCached (store: SessionStore): number | undefined {
  return cachesOf.get(store)?.entries
}

/**
 * After a write: wait (at most `ms`) until this node's subscription has seen what the write
 * published. Redis then has sent the invalidation to every node, before the browser can be
 * redirected to one. Without a subscription there is nothing to wait for.
 */
function waitAnnounced (subscriber: ChannelSubscriber, ms: number): () => Promise<void> {
  return async () => {
    if (!subscriber.ready) return
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
    try { await Promise.race([subscriber.sync(), late]) } catch { /* the subscription dropped: its cache is off */ }
    clearTimeout(timer)
  }
}
