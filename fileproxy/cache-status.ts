/**
 * The `Cache-Status` values of the file proxy (RFC 9211 §2): the cache names itself, then says
 * what it did. A revalidation that found the file changed is `fwd=stale` (RFC 9211 §2.2: the
 * cache had a response, but it was stale), then `stored` once the new bytes are kept.
 */
export const CacheStatus = {
  /** Answered from memory, fresh or confirmed unchanged by a re-check (stat). */
  hit: 'podside; hit',
  /** Answered from memory after the volume failed, within --stale-if-error. */
  stale: 'podside; hit; detail=stale',
  /** Loaded from the volume now and kept. */
  stored: 'podside; fwd=miss; stored',
  /** Loaded now but not kept: a purge arrived during the load, or the file changed while it was read. */
  notStored: 'podside; fwd=miss',
  /** A re-check found the file changed: loaded again and kept. */
  refreshed: 'podside; fwd=stale; stored',
  /** A re-check found the file changed: loaded again, not kept (as notStored). */
  refreshedNotStored: 'podside; fwd=stale',
  /** Above --max-object-size: streamed from the volume, never kept. */
  tooLarge: 'podside; fwd=miss; detail=too-large',
  /** The cache was not consulted (bad method, bad path). */
  bypass: 'podside; fwd=bypass',
  /** The cached copy is past --stale-if-error and the volume still fails: 503. */
  volumeError: 'podside; fwd=stale; detail=volume-error'
} as const

export type CacheStatusValue = typeof CacheStatus[keyof typeof CacheStatus]

/** The access log's `source` for an answer: `hit`, `stale`, `disk` (streamed) or `miss`. */
export function accessSource (status: CacheStatusValue): 'hit' | 'stale' | 'disk' | 'miss' {
  if (status === CacheStatus.hit) return 'hit'
  if (status === CacheStatus.stale) return 'stale'
  if (status === CacheStatus.tooLarge) return 'disk'
  return 'miss'
}
