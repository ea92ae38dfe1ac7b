import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'
import type { FileMeta } from './file-store.js'

const brotli = promisify(brotliCompress)
const gz = promisify(gzip)

export type Encoding = 'identity' | 'br' | 'gzip'
/** One representation of a cached file: its bytes and the validators of those bytes. */
export interface Variant { readonly encoding: Encoding, readonly meta: FileMeta, readonly body: Buffer }
export interface Variants { readonly identity: Variant, readonly br?: Variant, readonly gzip?: Variant }
export interface CompressLevels { brotliQuality: number, gzipLevel: number }

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
