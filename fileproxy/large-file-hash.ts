import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { digest } from './file-meta.js'
import type { FileproxyMetrics } from './metrics.js'
import type { OpenedFile } from './open-file.js'

export interface LargeFileHashes {
  /** The hash of a file above --max-object-size, read from its open handle once per version. */
  of (key: string, file: OpenedFile, purged: () => boolean): Promise<string>
  delete (key: string): void
  dropUnder (underPrefix: (key: string) => boolean): void
  clear (): void
}

/**
 * Hashes of streamed files, remembered per (path, device, inode, size, mtime) so each version is
 * read for hashing once, not once per request. A hash read while a purge arrived, or from a file
 * that changed size under the read, is used once and not remembered.
 */
export function createLargeFileHashes (max: number, metrics: FileproxyMetrics): LargeFileHashes {
  const memo = new LRUCache<string, { signature: string, hash: string }>({ max })
  return {
    async of (key, file, purged) {
      const st = file.stat
      const signature = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`
      const known = memo.get(key)
      if (known?.signature === signature) return known.hash
      metrics.diskReads.inc()
      const h = createHash('sha256')
      let read = 0
      for await (const chunk of file.fh.createReadStream({ start: 0, autoClose: false }) as AsyncIterable<Buffer>) { h.update(chunk); read += chunk.length }
      const hash = digest(h)
      if (!purged() && read === st.size) memo.set(key, { signature, hash })
      return hash
    },
    delete (key) { memo.delete(key) },
    dropUnder (underPrefix) { for (const key of [...memo.keys()]) if (underPrefix(key)) memo.delete(key) },
    clear () { memo.clear() }
  }
}
