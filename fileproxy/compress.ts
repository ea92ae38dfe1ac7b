import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'
import type { FileMeta } from './file-meta.js'

const brotli = promisify(brotliCompress)
const gz = promisify(gzip)

export type Encoding = 'identity' | 'br' | 'gzip'
/** One representation of a cached file: its bytes and the validators of those bytes. */
export interface Variant { readonly encoding: Encoding, readonly meta: FileMeta, readonly body: Buffer }
export interface Variants { readonly identity: Variant, readonly br?: Variant, readonly gzip?: Variant }
export interface CompressLevels { brotliQuality: number, gzipLevel: number }
export type Compress = (body: Buffer, meta: FileMeta) => Promise<{ br?: Variant, gzip?: Variant }>

/**
 * Types worth compressing: text, JSON, JavaScript, XML and SVG (`+json`, `+xml` suffixes). Images,
 * fonts in woff2, archives and media are compressed already.
 */
export function isCompressible (contentType: string): boolean {
  const semi = contentType.indexOf(';')
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
  return type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') ||
    type === 'application/javascript' || type === 'application/xml' || type.endsWith('+xml')
}

/**
 * The brotli and gzip copies of a body, each kept only when smaller than the body. zlib runs them
 * on the libuv thread pool, so the event loop keeps answering while they are made.
 */
export async function compressVariants (body: Buffer, meta: FileMeta, levels: CompressLevels): Promise<{ br?: Variant, gzip?: Variant }> {
  const [b, g] = await Promise.all([
    brotli(body, { params: { [constants.BROTLI_PARAM_QUALITY]: levels.brotliQuality, [constants.BROTLI_PARAM_SIZE_HINT]: body.length, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } }),
    gz(body, { level: levels.gzipLevel })
  ])
  return {
    br: b.length < body.length ? variant(meta, 'br', b) : undefined,
    gzip: g.length < body.length ? variant(meta, 'gzip', g) : undefined
  }
}

/** A compressed copy has its own ETag, `"<hash>-br"`: a cache must not answer a 304 for one with the other (RFC 9110 §8.8.3). */
function variant (meta: FileMeta, encoding: 'br' | 'gzip', body: Buffer): Variant {
  return { encoding, body, meta: { ...meta, size: body.length, etag: `"${meta.hash}-${encoding}"` } }
}

/**
 * At most `concurrency` files compressed at once, the others queued in order: zlib's async work
 * runs on libuv's thread pool (4 threads), which every file open, stat and read also needs, and a
 * purge of everything reloads (and re-compresses) every hot file at once.
 */
export function createCompressor (levels: CompressLevels, concurrency: number, run = compressVariants): Compress {
  let running = 0
  const waiting: Array<() => void> = []
  return async (body, meta) => {
    // A finishing job hands its slot straight to the next one waiting, so no newcomer slips in between.
    if (running < concurrency) running++
    else await new Promise<void>((resolve) => waiting.push(resolve))
    try {
      return await run(body, meta, levels)
    } finally {
      const next = waiting.shift()
      if (next !== undefined) next()
      else running--
    }
  }
}
