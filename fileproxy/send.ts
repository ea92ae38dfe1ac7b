import type { ServerResponse } from 'node:http'
import { sendError } from '../shared/error-response.js'
import { PreconditionFailed, RangeNotSatisfiable } from './errors.js'
import type { Plan } from './conditional.js'
import type { FileHit } from './file-store.js'
import { streamFile } from './stream-file.js'

export const IMMUTABLE = 'public, max-age=31536000, immutable'
export const REVALIDATE = 'public, max-age=0, must-revalidate'

/**
 * Writes the planned answer: headers, then the body from memory, or streamed from the open file
 * (then a promise). The caller releases a disk hit's file afterwards.
 */
export function sendFile (res: ServerResponse, method: string, hit: FileHit, plan: Plan, cacheControl: string): Promise<void> | undefined {
  const { meta } = hit
  const { etag, lastModified } = meta
  if (plan.status === 304) { res.writeHead(304, { etag, 'last-modified': lastModified, 'cache-control': cacheControl }).end(); return }
  if (plan.status === 412) { sendError(res, new PreconditionFailed()); return }
  if (plan.status === 416) { sendError(res, new RangeNotSatisfiable(), { headers: { 'content-range': `bytes */${meta.size}` } }); return }

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
    'x-content-type-options': 'nosniff'
  }
  if (plan.status === 206) headers['content-range'] = `bytes ${start}-${end}/${meta.size}`
  res.writeHead(plan.status, headers)
  if (method === 'HEAD' || meta.size === 0) { res.end(); return }
  if (hit.kind === 'memory') {
    res.end(plan.status === 206 ? hit.body.subarray(start, end + 1) : hit.body)
    return
  }
  return streamFile(res, hit.file, meta, start, end)
}
