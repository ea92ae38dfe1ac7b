import type { ServerResponse } from 'node:http'
import { sendError } from '../shared/error-response.js'
import { PreconditionFailed, RangeNotSatisfiable } from './errors.js'
import type { Plan } from './conditional.js'
import type { Variant } from './compress.js'
import type { FileHit } from './file-store.js'
import { streamFile } from './stream-file.js'

export const IMMUTABLE = 'public, max-age=31536000, immutable'
export const REVALIDATE = 'public, max-age=0, must-revalidate'

const VARY = 'Accept-Encoding'

/**
 * Writes the planned answer for one variant of a memory hit (identity for a disk hit): headers,
 * then the body from memory, or streamed from the open file (then a promise). The caller releases
 * a disk hit's file afterwards.
 */
export function sendFile (res: ServerResponse, method: string, hit: FileHit, plan: Plan, cacheControl: string,
  variant: Variant | undefined = hit.kind === 'memory' ? hit.variants.identity : undefined): Promise<void> | undefined {
  const meta = variant?.meta ?? hit.meta
  const { etag, lastModified } = meta
  const cacheStatus = hit.status
  // RFC 9110 §15.4.5: a 304 carries the Vary a 200 would.
  if (plan.status === 304) {
    const head: Record<string, string> = { etag, 'last-modified': lastModified, 'cache-control': cacheControl, 'cache-status': cacheStatus }
    if (meta.varies) head.vary = VARY
    res.writeHead(304, head).end()
    return
  }
  if (plan.status === 412) { sendError(res, new PreconditionFailed(), { headers: { 'cache-status': cacheStatus } }); return }
  if (plan.status === 416) {
    const head: Record<string, string> = { 'content-range': `bytes */${meta.size}`, 'cache-status': cacheStatus }
    if (meta.varies) head.vary = VARY
    sendError(res, new RangeNotSatisfiable(), { headers: head })
    return
  }

  const start = plan.status === 206 ? plan.start : 0
  const end = plan.status === 206 ? plan.end : meta.size - 1
  // One object literal, no spread: Node's header writer is much slower on spread-built objects.
  const headers: Record<string, string | number> = {
    etag,
    'last-modified': lastModified,
    'cache-control': cacheControl,
    'content-type': meta.contentType,
    'content-length': end - start + 1,
    'accept-ranges': 'bytes',
    // Uploads are user content: never let a browser sniff them into something executable.
    'x-content-type-options': 'nosniff',
    'cache-status': cacheStatus
  }
  if (meta.varies) headers.vary = VARY
  if (variant !== undefined && variant.encoding !== 'identity') headers['content-encoding'] = variant.encoding
  // RFC 9110 §14: a range of a compressed variant counts bytes of the compressed body.
  if (plan.status === 206) headers['content-range'] = `bytes ${start}-${end}/${meta.size}`
  res.writeHead(plan.status, headers)
  if (method === 'HEAD' || meta.size === 0) { res.end(); return }
  if (hit.kind === 'disk') return streamFile(res, hit.file, meta, start, end)
  const body = variant?.body ?? hit.body
  res.end(plan.status === 206 ? body.subarray(start, end + 1) : body)
}
