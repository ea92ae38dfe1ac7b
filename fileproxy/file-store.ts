import { createHash } from 'node:crypto'
import { extname } from 'node:path'
import { LRUCache } from 'lru-cache'
import { contentType } from 'mime-types'
import { PodsideError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { CacheStatus, type CacheStatusValue } from './cache-status.js'
import { createCompressor, isCompressible, type CompressLevels, type Variants } from './compress.js'
import { VolumeUnavailable } from './errors.js'
import { changed, digest, fileMeta, type FileMeta } from './file-meta.js'
import { createLargeFileHashes } from './large-file-hash.js'
import type { FileproxyMetrics } from './metrics.js'
import { createOpener, fsError, isVolumeFailure, realFs, type FsOps, type OpenedFile } from './open-file.js'
import type { PurgeSpec } from './purge-message.js'
import { purgeMatch } from './purge-match.js'

export type { FileMeta }

/**
 * `memory`: the body is in hand, with its compressed variants once they are made. `disk`: the file
 * is open, its hash taken from that handle; the body is streamed from the same handle, and each
 * caller of `get` calls `file.release()` once it is done with it. `status`: what the cache did.
 */
export type FileHit =
  | { kind: 'memory', meta: FileMeta, body: Buffer, variants: Variants, status: CacheStatusValue }
  | { kind: 'disk', meta: FileMeta, file: OpenedFile, status: CacheStatusValue }

interface Entry {
  meta: FileMeta
  body: Buffer
  variants: Variants
  realPath: string
  dev: number
  ino: number
  /** When the last re-check started (one request re-checks; the others are served meanwhile). */
  checkedAt: number
  /** When the file was last loaded or found unchanged: the --stale-if-error window runs from here. */
  verifiedAt: number
  /** The last re-check or re-read failed with a volume error: answers are stale until one succeeds. */
  failing: boolean
}
/** A load in flight; `users`: the callers of `get` waiting for it. */
interface Load { promise: Promise<FileHit>, stale: boolean, users: number }

export interface FileStoreOptions {
  /** The real path of --root (symlinks resolved). */
  root: string
  cacheSize: number
  maxObjectSize: number
  revalidateMs: number
  /** 0: a cached file whose volume fails is not served. */
  staleIfErrorMs: number
  /** Brotli and gzip variants for compressible types of at least `compressMinBytes`. */
  compress: boolean
  compressMinBytes: number
  compressLevels: CompressLevels
  /** Files compressed at once (they share libuv's thread pool with file reads); default 1. */
  compressConcurrency?: number
  entryOverheadBytes: number
  hashMemoEntries: number
  metrics: FileproxyMetrics
  clock?: () => number
  /** The volume's path calls (tests inject failures). */
  fs?: FsOps
  /** Where a file that starts being served stale is reported (once per failure, not per answer). */
  log?: Logger
}

export interface FileStore {
  /** The file for a cache key: from memory, or loaded once however many ask at the same time. */
  get (key: string): Promise<FileHit>
  /**
   * The file, when memory may answer at once (cached and not due for a re-check); otherwise
   * undefined, and `get` decides. Synchronous, so a hit costs no promise (see handle.ts).
   */
  peek (key: string): FileHit | undefined
  /** Drops what the purge names, including loads in flight (their bytes are then not cached). */
  purge (spec: PurgeSpec): number
  /** Resolves once the compressed variants being made now are attached (tests, bench). */
  compressed (): Promise<void>
  readonly bytes: number
  readonly entries: number
}

/**
 * The byte-bounded cache in front of the network volume. lru-cache bounds the sum of body sizes
 * plus a fixed bookkeeping charge per entry (quick-lru can only bound the number of entries).
 * Files above --max-object-size are never cached; their hash is remembered per
 * (path, device, inode, size, mtime) so each version is read for hashing once. Compressed variants
 * count in the bound like bodies.
 */
export function createFileStore (opts: FileStoreOptions): FileStore {
  const clock = opts.clock ?? Date.now
  const { metrics } = opts
  const cache = new LRUCache<string, Entry>({
    maxSize: opts.cacheSize,
    sizeCalculation: (e, key) => e.body.length + (e.variants.br?.body.length ?? 0) + (e.variants.gzip?.body.length ?? 0) + key.length + opts.entryOverheadBytes,
    dispose: (_e, _key, reason) => { if (reason === 'evict') metrics.evictions.inc() }
  })
  const hashes = createLargeFileHashes(opts.hashMemoEntries, metrics)
  const loads = new Map<string, Load>()
  const fs = opts.fs ?? realFs
  const opener = createOpener(opts.root, fs)
  const compressing = new Set<Promise<void>>()
  const compress = createCompressor(opts.compressLevels, opts.compressConcurrency ?? 1)

  /** `fwd`: why the volume is read: not cached (`miss`), or a re-check found the file changed (`stale`). */
  async function load (key: string, token: Load, fwd: 'miss' | 'stale'): Promise<FileHit> {
    const file = await opener.openFile(key)
    const { fh, stat: st } = file
    let shared = false
    try {
      const type = contentType(extname(key)) || 'application/octet-stream'
      const varies = opts.compress && isCompressible(type)
      if (st.size > opts.maxObjectSize) {
        const hash = await hashes.of(key, file, () => token.stale)
        // Every caller waiting now gets this handle; later ones start a load of their own.
        if (loads.get(key) === token) loads.delete(key)
        file.share(token.users)
        shared = true
        return { kind: 'disk', meta: fileMeta(key, st.size, st.mtimeMs, hash, type, varies), file, status: CacheStatus.tooLarge }
      }
      metrics.diskReads.inc()
      const body = await fh.readFile()
      const meta = fileMeta(key, body.length, st.mtimeMs, digest(createHash('sha256').update(body)), type, varies)
      const variants: Variants = { identity: { encoding: 'identity', meta, body } }
      let stored = false
      // A purge that arrived while this load ran wins: these bytes may be the old ones. A file
      // rewritten in place while it was read is served (its ETag is of these bytes) but not kept.
      if (!token.stale && !changed(st, await fh.stat())) {
        const now = clock()
        const entry: Entry = { meta, body, variants, realPath: file.realPath, dev: st.dev, ino: st.ino, checkedAt: now, verifiedAt: now, failing: false }
        cache.set(key, entry)
        stored = cache.peek(key) === entry
        if (stored && varies && body.length >= opts.compressMinBytes) compressLater(key, entry)
      }
      const status = fwd === 'miss' ? (stored ? CacheStatus.stored : CacheStatus.notStored) : (stored ? CacheStatus.refreshed : CacheStatus.refreshedNotStored)
      return { kind: 'memory', meta, body, variants, status }
    } catch (err) {
      throw err instanceof PodsideError ? err : fsError(err)
    } finally {
      if (!shared) file.release()
    }
  }

  /**
   * Makes the compressed variants off the request path (the requests meanwhile get identity) and
   * attaches them to the entry if it is still the cached one, counting their bytes.
   */
  function compressLater (key: string, entry: Entry): void {
    const job = compress(entry.body, entry.meta).then((v) => {
      if (cache.peek(key) !== entry) return // purged or replaced meanwhile
      const extra = (v.br?.body.length ?? 0) + (v.gzip?.body.length ?? 0)
      if (entry.body.length + extra + key.length + opts.entryOverheadBytes > opts.cacheSize) return
      entry.variants = { identity: entry.variants.identity, br: v.br, gzip: v.gzip }
      // lru-cache recounts a size only when the value is a new one: take the entry out and put it back.
      cache.delete(key)
      cache.set(key, entry)
    }, () => { /* zlib does not fail on a Buffer in memory; were it to, identity is served */ }).finally(() => compressing.delete(job))
    compressing.add(job)
  }

  /** Re-checks a cached entry with realpath + stat: same place, same inode, size and mtime. Throws what the volume says. */
  async function unchanged (key: string, e: Entry): Promise<boolean> {
    const real = await opener.confine(key)
    let st
    try { st = await fs.stat(real) } catch (err) { throw fsError(err) }
    return real === e.realPath && st.dev === e.dev && st.ino === e.ino && st.size === e.meta.size && st.mtimeMs === e.meta.mtimeMs
  }

  function startLoad (key: string, fwd: 'miss' | 'stale'): Promise<FileHit> {
    const running = loads.get(key)
    if (running !== undefined) { running.users++; return running.promise }
    const token: Load = { promise: Promise.resolve() as unknown as Promise<FileHit>, stale: false, users: 1 }
    token.promise = load(key, token, fwd).finally(() => { if (loads.get(key) === token) loads.delete(key) })
    loads.set(key, token)
    return token.promise
  }

  const due = (e: Entry): boolean => opts.revalidateMs !== 0 && clock() - e.checkedAt >= opts.revalidateMs
  const memoryHit = (e: Entry, status: CacheStatusValue): FileHit => ({ kind: 'memory', meta: e.meta, body: e.body, variants: e.variants, status })

  /** A failing entry: served stale within --stale-if-error of its last good check, else 503. */
  function staleOr503 (e: Entry): FileHit {
    if (clock() - e.verifiedAt > opts.staleIfErrorMs) throw new VolumeUnavailable('the volume fails and the cached copy is older than --stale-if-error')
    metrics.hits.inc()
    metrics.staleServed.inc()
    return memoryHit(e, CacheStatus.stale)
  }

  function peek (key: string): FileHit | undefined {
    const e = cache.get(key)
    if (e === undefined || due(e)) return undefined
    if (e.failing) return clock() - e.verifiedAt > opts.staleIfErrorMs ? undefined : staleOr503(e)
    metrics.hits.inc()
    return memoryHit(e, CacheStatus.hit)
  }

  /**
   * An entry due for a re-check: one request re-checks; the others keep being served from memory
   * meanwhile. Unchanged: a hit. Changed: loaded again (the old copy is served until then). When
   * the volume fails (not ENOENT: a file that is gone is never served), the copy goes stale.
   */
  async function recheck (key: string, e: Entry): Promise<FileHit> {
    e.checkedAt = clock()
    let failure: unknown
    try {
      if (await unchanged(key, e)) {
        e.failing = false
        e.verifiedAt = e.checkedAt
        metrics.hits.inc()
        return memoryHit(e, CacheStatus.hit)
      }
      metrics.misses.inc()
      const hit = await startLoad(key, 'stale')
      if (cache.peek(key) === e) cache.delete(key) // the new bytes were not kept: neither are the old
      return hit
    } catch (err) {
      failure = err
    }
    const current = cache.peek(key) === e
    if (!current || opts.staleIfErrorMs === 0 || !isVolumeFailure(failure)) {
      if (current) cache.delete(key)
      throw failure
    }
    if (!e.failing) opts.log?.warn({ err: failure, path: key }, 'the volume failed: the cached copy is served stale (--stale-if-error)')
    e.failing = true
    return staleOr503(e)
  }

  return {
    peek,
    async get (key) {
      const fresh = peek(key)
      if (fresh !== undefined) return fresh
      const e = cache.get(key)
      if (e === undefined) {
        metrics.misses.inc()
        return await startLoad(key, 'miss')
      }
      // Failing and past its window: the volume is asked again only once --revalidate has passed.
      if (!due(e)) return staleOr503(e)
      return await recheck(key, e)
    },

    purge (spec) {
      const match = purgeMatch(spec)
      let dropped = 0
      if (spec.all) {
        dropped = cache.size
        cache.clear()
        hashes.clear()
      } else {
        // Named paths are dropped by key; only prefixes need a walk over the cache (one per call).
        for (const key of match.paths) {
          if (cache.delete(key)) dropped++
          hashes.delete(key)
        }
        if (match.hasPrefixes) {
          for (const key of [...cache.keys()]) if (match.underPrefix(key)) { cache.delete(key); dropped++ }
          hashes.dropUnder(match.underPrefix)
        }
      }
      for (const [key, l] of loads) {
        if (match.matches(key)) { l.stale = true; loads.delete(key) }
      }
      return dropped
    },

    async compressed () { await Promise.all([...compressing]) },
    get bytes () { return cache.calculatedSize },
    get entries () { return cache.size }
  }
}
