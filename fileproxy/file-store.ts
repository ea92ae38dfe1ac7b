import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { LRUCache } from 'lru-cache'
import { contentType } from 'mime-types'
import { PodsideError } from '../shared/errors.js'
import type { FileproxyMetrics } from './metrics.js'
import { createOpener, fsError, type OpenedFile } from './open-file.js'
import type { PurgeSpec } from './purge-message.js'
import { purgeMatch } from './purge-match.js'

export interface FileMeta {
  key: string
  size: number
  mtimeMs: number
  /** The first 22 characters of the base64url SHA-256 of the content (132 bits). */
  hash: string
  contentType: string
  /** `"<hash>"` and the HTTP date of mtime, made once per load rather than per response. */
  etag: string
  lastModified: string
}

/**
 * `memory`: the body is in hand (`cached`: it was already before this request). `disk`: the file
 * is open, its hash taken from that handle; the body is streamed from the same handle, and each
 * caller of `get` calls `file.release()` once it is done with it.
 */
export type FileHit =
  | { kind: 'memory', meta: FileMeta, body: Buffer, cached: boolean }
  | { kind: 'disk', meta: FileMeta, file: OpenedFile }

interface Entry { meta: FileMeta, body: Buffer, realPath: string, dev: number, ino: number, checkedAt: number }
/** A load in flight; `users`: the callers of `get` waiting for it. */
interface Load { promise: Promise<FileHit>, stale: boolean, users: number }

export interface FileStoreOptions {
  /** The real path of --root (symlinks resolved). */
  root: string
  cacheSize: number
  maxObjectSize: number
  revalidateMs: number
  entryOverheadBytes: number
  hashMemoEntries: number
  metrics: FileproxyMetrics
  clock?: () => number
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
  readonly bytes: number
  readonly entries: number
}

/**
 * The byte-bounded cache in front of the network volume. lru-cache bounds the sum of body sizes
 * plus a fixed bookkeeping charge per entry (quick-lru can only bound the number of entries).
 * Files above --max-object-size are never cached; their hash is remembered per
 * (path, device, inode, size, mtime) so each version is read for hashing once.
 */
export function createFileStore (opts: FileStoreOptions): FileStore {
  const clock = opts.clock ?? Date.now
  const { metrics } = opts
  const cache = new LRUCache<string, Entry>({
    maxSize: opts.cacheSize,
    sizeCalculation: (e, key) => e.body.length + key.length + opts.entryOverheadBytes,
    dispose: (_e, _key, reason) => { if (reason === 'evict') metrics.evictions.inc() }
  })
  const hashes = new LRUCache<string, { signature: string, hash: string }>({ max: opts.hashMemoEntries })
  const loads = new Map<string, Load>()
  const opener = createOpener(opts.root)

  async function load (key: string, token: Load): Promise<FileHit> {
    const file = await opener.openFile(key)
    const { fh, stat: st } = file
    let shared = false
    try {
      const type = contentType(extname(key)) || 'application/octet-stream'
      if (st.size > opts.maxObjectSize) {
        const hash = await hashOf(key, file, token)
        // Every caller waiting now gets this handle; later ones start a load of their own.
        if (loads.get(key) === token) loads.delete(key)
        file.share(token.users)
        shared = true
        return { kind: 'disk', meta: fileMeta(key, st.size, st.mtimeMs, hash, type), file }
      }
      metrics.diskReads.inc()
      const body = await fh.readFile()
      const meta = fileMeta(key, body.length, st.mtimeMs, digest(createHash('sha256').update(body)), type)
      // A purge that arrived while this load ran wins: these bytes may be the old ones. A file
      // rewritten in place while it was read is served (its ETag is of these bytes) but not kept.
      if (!token.stale && !changed(st, await fh.stat())) cache.set(key, { meta, body, realPath: file.realPath, dev: st.dev, ino: st.ino, checkedAt: clock() })
      return { kind: 'memory', meta, body, cached: false }
    } catch (err) {
      throw err instanceof PodsideError ? err : fsError(err)
    } finally {
      if (!shared) file.release()
    }
  }

  /** The hash of a large file, read from its open handle once per version (path, inode, size, mtime). */
  async function hashOf (key: string, file: OpenedFile, token: Load): Promise<string> {
    const st = file.stat
    const signature = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`
    const memo = hashes.get(key)
    if (memo?.signature === signature) return memo.hash
    metrics.diskReads.inc()
    const h = createHash('sha256')
    let read = 0
    for await (const chunk of file.fh.createReadStream({ start: 0, autoClose: false }) as AsyncIterable<Buffer>) { h.update(chunk); read += chunk.length }
    const hash = digest(h)
    if (!token.stale && read === st.size) hashes.set(key, { signature, hash })
    return hash
  }

  /** Re-checks a cached entry with realpath + stat: same place, same inode, size and mtime. */
  async function unchanged (key: string, e: Entry): Promise<boolean> {
    try {
      const real = await opener.confine(key)
      const st = await stat(real)
      return real === e.realPath && st.dev === e.dev && st.ino === e.ino && st.size === e.meta.size && st.mtimeMs === e.meta.mtimeMs
    } catch {
      return false
    }
  }

  function startLoad (key: string): Promise<FileHit> {
    const running = loads.get(key)
    if (running !== undefined) { running.users++; return running.promise }
    const token: Load = { promise: Promise.resolve() as unknown as Promise<FileHit>, stale: false, users: 1 }
    token.promise = load(key, token).finally(() => { if (loads.get(key) === token) loads.delete(key) })
    loads.set(key, token)
    return token.promise
  }

  function peek (key: string): FileHit | undefined {
    const e = cache.get(key)
    if (e === undefined || (opts.revalidateMs !== 0 && clock() - e.checkedAt >= opts.revalidateMs)) return undefined
    metrics.hits.inc()
    return { kind: 'memory', meta: e.meta, body: e.body, cached: true }
  }

  return {
    peek,
    async get (key) {
      const fresh = peek(key)
      if (fresh !== undefined) return fresh
      const e = cache.get(key)
      if (e !== undefined) {
        // Due for a re-check: one request re-checks; the others keep being served from memory meanwhile.
        e.checkedAt = clock()
        if (await unchanged(key, e)) {
          metrics.hits.inc()
          return { kind: 'memory', meta: e.meta, body: e.body, cached: true }
        }
        if (cache.get(key) === e) cache.delete(key)
      }
      metrics.misses.inc()
      return await startLoad(key)
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
          for (const key of [...hashes.keys()]) if (match.underPrefix(key)) hashes.delete(key)
        }
      }
      for (const [key, l] of loads) {
        if (match.matches(key)) { l.stale = true; loads.delete(key) }
      }
      return dropped
    },

    get bytes () { return cache.calculatedSize },
    get entries () { return cache.size }
  }
}

function fileMeta (key: string, size: number, mtimeMs: number, hash: string, contentType: string): FileMeta {
  return { key, size, mtimeMs, hash, contentType, etag: `"${hash}"`, lastModified: new Date(mtimeMs).toUTCString() }
}

export function digest (h: ReturnType<typeof createHash>): string {
  return h.digest('base64url').slice(0, 22)
}

/** Whether a file changed between two fstats of one handle. */
export function changed (before: { size: number, mtimeMs: number }, after: { size: number, mtimeMs: number }): boolean {
  return before.size !== after.size || before.mtimeMs !== after.mtimeMs
}
