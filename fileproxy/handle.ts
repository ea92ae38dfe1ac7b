import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendError } from '../shared/error-response.js'
import { hasCode } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { plan } from './conditional.js'
import { MethodNotAllowed, ReadFailed, TornRead } from './errors.js'
import type { FileStore } from './file-store.js'
import type { FileproxyMetrics } from './metrics.js'
import { keyFromRequestPath } from './request-path.js'
import { IMMUTABLE, REVALIDATE, sendFile } from './send.js'

export interface HandlerDeps {
  files: FileStore
  log: Logger
  metrics: FileproxyMetrics
  hashParam: string
}

/**
 * One request, top to bottom: method → safe path → file (memory, or one load from disk) →
 * preconditions and range → answer with the caching headers its URL earns.
 */
export function createHandler (deps: HandlerDeps) {
  let seq = 0
  return async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const reqId = ++seq
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const rawPath = q === -1 ? target : target.slice(0, q)
    let source = 'none'
    res.on('close', () => { // emitted once per response: `once` would only add a wrapper
      const status = res.headersSent ? res.statusCode : 499
      deps.metrics.requestsWith(status).inc()
      deps.log.info({ reqId, method: req.method, path: rawPath, status, ms: Math.round((performance.now() - started) * 100) / 100, source }, 'request')
    })
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowed('GET or HEAD only')
      const key = keyFromRequestPath(rawPath)
      // A fresh hit and its answer from memory take no promise: a cached 304 is a few µs of work,
      // and two promise turns were a measurable share of it.
      const hit = deps.files.peek(key) ?? await deps.files.get(key)
      source = hit.kind === 'disk' ? 'disk' : hit.cached ? 'hit' : 'miss'
      try {
        const answer = plan(req.method, req.headers, hit.meta)
        const streaming = sendFile(res, req.method, hit, answer, cacheControl(target, q, deps.hashParam, hit.meta.hash))
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
      sendError(res, err, hasCode(err, MethodNotAllowed.code) ? { headers: { allow: 'GET, HEAD' } } : {})
    }
  }
}

/**
 * `immutable` only for a hash URL naming the current content: exactly one `v` (the hash
 * parameter) equal to the file's hash. Anything else (stale, empty, repeated, absent) must be
 * revalidated, or a CDN would keep old bytes for a year.
 */
export function cacheControl (target: string, q: number, hashParam: string, hash: string): string {
  if (q === -1) return REVALIDATE
  const values = new URLSearchParams(target.slice(q + 1)).getAll(hashParam)
  return values.length === 1 && values[0] === hash ? IMMUTABLE : REVALIDATE
}
