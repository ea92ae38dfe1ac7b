import type { IncomingHttpHeaders } from 'node:http'
import parseRange from 'range-parser'
import type { FileMeta } from './file-meta.js'

export type Plan =
  | { status: 200 }
  | { status: 206, start: number, end: number }
  | { status: 304 }
  | { status: 412 }
  | { status: 416 }

/** Entity tags in an If-Match / If-None-Match list (RFC 9110 §13.1.1). */
function tags (value: string): string[] {
  return value.split(',').map((t) => t.trim()).filter((t) => t !== '')
}

/** Strong comparison: both strong and identical (RFC 9110 §8.8.3.2). */
const strongMatch = (tag: string, etag: string): boolean => !tag.startsWith('W/') && tag === etag
/** Weak comparison: identical once W/ is dropped. */
const weakMatch = (tag: string, etag: string): boolean => tag.replace(/^W\//, '') === etag

const seconds = (ms: number): number => Math.floor(ms / 1000)
const httpDate = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const t = Date.parse(value)
  return Number.isNaN(t) ? undefined : t
}

/**
 * What to answer for a GET or HEAD of this file, in the evaluation order of RFC 9110 §13.2.2:
 * If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, then Range with If-Range.
 */
export function planAnswer (method: string, headers: IncomingHttpHeaders, meta: FileMeta): Plan {
  const { etag } = meta
  const ifMatch = headers['if-match']
  if (ifMatch !== undefined) {
    // RFC 9110 §13.1.1: If-Match uses the strong comparison.
    if (ifMatch.trim() !== '*' && !tags(ifMatch).some((t) => strongMatch(t, etag))) return { status: 412 }
  } else {
    const ius = httpDate(headers['if-unmodified-since'])
    if (ius !== undefined && seconds(meta.mtimeMs) > seconds(ius)) return { status: 412 }
  }
  const ifNoneMatch = headers['if-none-match']
  if (ifNoneMatch !== undefined) {
    // RFC 9110 §13.1.2: If-None-Match uses the weak comparison.
    if (ifNoneMatch.trim() === '*' || tags(ifNoneMatch).some((t) => weakMatch(t, etag))) return { status: 304 }
  } else {
    const ims = httpDate(headers['if-modified-since'])
    if (ims !== undefined && seconds(meta.mtimeMs) <= seconds(ims)) return { status: 304 }
  }
  const range = headers.range
  if (method !== 'GET' || range === undefined) return { status: 200 }
  const ifRange = [headers['if-range']].flat()[0]
  if (ifRange !== undefined) {
    // RFC 9110 §13.1.5: an entity tag must match strongly; a date must equal Last-Modified.
    const v = ifRange.trim()
    const fresh = v.startsWith('"') || v.startsWith('W/') ? strongMatch(v, etag) : httpDate(v) === seconds(meta.mtimeMs) * 1000
    if (!fresh) return { status: 200 }
  }
  const ranges = parseRange(meta.size, range, { combine: true })
  if (ranges === -1) return { status: 416 }
  // Malformed, another unit, or several ranges: RFC 9110 §14.2 lets a server ignore Range.
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return { status: 200 }
  return { status: 206, start: ranges[0].start, end: ranges[0].end }
}
