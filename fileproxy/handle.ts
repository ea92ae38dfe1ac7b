import type { IncomingMessage, ServerResponse } from 'node:http'
import { createAccessLog, withoutQuery, type AccessEntry } from '../shared/access-log.js'
import { requestIdOf } from '../shared/request-id.js'
import { sendError } from '../shared/error-response.js'
import { hasCode } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { accessSource, CacheStatus } from './cache-status.js'
import { planAnswer } from './conditional.js'
import { chooseVariant } from './encoding.js'
import { MethodNotAllowed, ReadFailed, TornRead, VolumeUnavailable } from './errors.js'
import type { FileStore } from './file-store.js'
import type { FileproxyMetrics } from './metrics.js'
import { keyFromRequestPath } from './request-path.js'
import { IMMUTABLE, REVALIDATE, sendFile } from './send.js'

export interface HandlerDeps {
  files: FileStore
  log: Logger
  metrics: FileproxyMetrics
  hashParam: string
  /** Retry-After of a 503 (the volume fails past --stale-if-error): when it is asked again. */
  retryAfterSeconds: number
}

/**
 * One request, top to bottom: method → safe path → file (memory, or one load from disk) →
 * variant by Accept-Encoding → preconditions and range on that variant → answer with the caching
 * headers its URL earns and what the cache did (Cache-Status).
 */
export function createHandler (deps: HandlerDeps) {
  let seq = 0
  const access = createAccessLog({ log: deps.log, count: deps.metrics.requestsWith, duration: deps.metrics.requestSeconds, tail })
  return async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId = ++seq
    // The file proxy has no --trust-proxy: it logs the id a proxy in front gave, or its own.
    const requestId = requestIdOf(req.headers, true)
    const target = req.url ?? '/'
    const rawPath = withoutQuery(target)
    let cacheStatus: string = CacheStatus.bypass
    const entry = access.start(req, res, reqId, requestId, 'none')
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowed('GET or HEAD only')
      const key = keyFromRequestPath(rawPath)
      cacheStatus = CacheStatus.notStored
      // A fresh hit and its answer from memory take no promise: a cached 304 is a few µs of work,
      // and two promise turns were a measurable share of it.
      const hit = deps.files.peek(key) ?? await deps.files.get(key)
      entry.state = accessSource(hit.status)
      try {
        // Files too large to cache are streamed as they are.
        const variant = hit.kind === 'memory' ? chooseVariant(hit.variants, req.headers['accept-encoding']) : undefined
        const answer = planAnswer(req.method, req.headers, variant?.meta ?? hit.meta)
        const streaming = sendFile(res, req.method, hit, answer, cacheControl(target, rawPath.length, deps.hashParam, hit.meta.hash), variant)
        if (streaming !== undefined) await streaming
      } finally {
        // The request held the open file until its answer was written.
        if (hit.kind === 'disk') hit.file.release()
      }
    } catch (err) {
      if (hasCode(err, ReadFailed.code)) deps.log.error({ err, reqId, path: rawPath }, 'read failed')
      if (hasCode(err, TornRead.code)) {
        deps.metrics.tornReads.inc()
        deps.log.warn({ reqId, path: rawPath }, 'file changed while it was streamed: answer cut short')
      }
      if (hasCode(err, VolumeUnavailable.code)) cacheStatus = CacheStatus.volumeError
      const headers: Record<string, string> = { 'cache-status': cacheStatus }
      if (hasCode(err, MethodNotAllowed.code)) headers.allow = 'GET, HEAD'
      sendError(res, err, { headers, retryAfterSeconds: deps.retryAfterSeconds })
    }
  }
}

/** The file proxy's fields of the access line: `requestId`, `source` (none, hit, miss or disk). */
function tail (e: AccessEntry): string {
  return `,"requestId":"${e.requestId}","source":"${e.state}"`
}

/**
 * `immutable` only for a hash URL naming the current content: exactly one `v` (the hash
 * parameter) equal to the file's hash. Anything else (stale, empty, repeated, absent) must be
 * revalidated, or a CDN would keep old bytes for a year.
 */
export function cacheControl (target: string, pathLength: number, hashParam: string, hash: string): string {
  if (pathLength === target.length) return REVALIDATE // no query
  const values = new URLSearchParams(target.slice(pathLength + 1)).getAll(hashParam)
  return values.length === 1 && values[0] === hash ? IMMUTABLE : REVALIDATE
}
