import type { Cluster } from 'ioredis'
import type { Logger } from '../../shared/logger.js'
import type { RedisTarget } from '../../shared/redis-url.js'
import { channelInvalidations, clusterCacheParts, shardInvalidations } from './invalidations.js'
import { createSessionCache, type SessionCache } from './session-cache.js'
import type { SessionRecord, SessionStore } from './store.js'

export interface CachedStoreHooks {
  hit: () => void
  miss: () => void
  /**
   * Resolves once the invalidation this process's write just published has been sent to every
   * node (see session-cache.ts); called before the write's answer goes to the browser.
   */
  announced: (ids: string[]) => Promise<void>
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
    await hooks.announced(ids())
    return result
  }
  /**
   * Reads of one session in flight: a request that misses joins the read already under way, so a
   * hot session's reload is one Redis read. Only a read started since the last invalidation is
   * joined (same ticket): one started before may hold what was since changed.
   */
  const loading = new Map<string, { ticket: number, read: Promise<SessionRecord | undefined> }>()
  return {
    ...store,
    async load (id, now) {
      const cached = cache.get(id, now)
      if (cached !== undefined) { hooks.hit(); return cached }
      hooks.miss()
      const ticket = cache.ticket()
      const under = loading.get(id)
      if (under !== undefined && under.ticket === ticket) return await under.read
      const read = store.load(id, now).then((session) => {
        if (session !== undefined) cache.put(session, ticket)
        return session
      }).finally(() => { if (loading.get(id)?.read === read) loading.delete(id) })
      loading.set(id, { ticket, read })
      return await read
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
  /** Under Cluster: the command client (asked who serves which slots). */
  command?: Cluster
}

/**
 * The Redis store behind a session cache kept live by its own subscription to the invalidations
 * (closed with the store): the one channel, or under Cluster a shard channel per bucket of slots.
 */
export function createCachedStore (store: SessionStore, opts: CachedStoreOptions): SessionStore {
  const sharded = opts.target.mode === 'cluster'
  if (sharded && opts.command === undefined) throw new Error('the session cache under Cluster needs the command client')
  const cache = createSessionCache({ maxBytes: opts.maxBytes, touchEveryMs: opts.touchEveryMs, parts: sharded ? clusterCacheParts : undefined })
  const invalidations = sharded
    ? shardInvalidations(cache, opts.command as Cluster, opts)
    : channelInvalidations(cache, opts)
  const cached = cacheStore(store, cache, { ...opts.counts, announced: invalidations.announced })
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
