import type { SessionCache } from './session-cache.js'
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
    destroy: async (id) => await written(() => [id], store.destroy(id)),
    destroyUser: async (user, now) => {
      // Which ids ended is not returned: drop every session kept here (a rare admin call).
      const ended = await written(() => [], store.destroyUser(user, now))
      cache.clear()
      return ended
    }
  }
}
