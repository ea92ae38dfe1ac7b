import type { IncomingMessage } from 'node:http'
import type { AdminRoute } from '../shared/admin-server.js'
import { sendJson } from '../shared/admin-server.js'
import { sendError } from '../shared/error-response.js'
import { BadPath, MethodNotAllowed } from './errors.js'
import type { FileStore } from './file-store.js'
import { parsePurgeMessage, type PurgeSpec } from './purge-message.js'
import { keyFromFilePath } from './request-path.js'

/**
 * `GET /v1/url?path=/a.png` → `{"url":"/a.png?v=<hash>","etag":"\"<hash>\"","size":N}` (what the
 * app puts into its pages), and `POST /v1/purge` (same body as the channel; this node only).
 */
export function fileRoutes (files: FileStore, opts: { hashParam: string, maxPurgeBytes: number, purge: (spec: PurgeSpec, source: string) => number }): AdminRoute {
  return async (req, res, url) => {
    if (url.pathname === '/v1/url') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendError(res, new MethodNotAllowed('GET or HEAD'), { headers: { allow: 'GET, HEAD' } })
        return true
      }
      try {
        const key = keyFromFilePath(url.searchParams.get('path') ?? '')
        const hit = await files.get(key)
        if (hit.kind === 'disk') hit.file.release()
        const { meta } = hit
        sendJson(res, 200, { url: `${encodeURI(key)}?${opts.hashParam}=${meta.hash}`, etag: meta.etag, size: meta.size })
      } catch (err) {
        sendError(res, err)
      }
      return true
    }
    if (url.pathname === '/v1/purge') {
      if (req.method !== 'POST') { sendError(res, new MethodNotAllowed('POST'), { headers: { allow: 'POST' } }); return true }
      const body = await readBody(req, opts.maxPurgeBytes)
      const spec = body === undefined ? `larger than ${opts.maxPurgeBytes} bytes` : parsePurgeMessage(body, opts.maxPurgeBytes)
      if (typeof spec === 'string') { sendError(res, new BadPath(`purge message ${spec}`)); return true }
      sendJson(res, 200, { purged: opts.purge(spec, 'admin') })
      return true
    }
    return false
  }
}

async function readBody (req: IncomingMessage, max: number): Promise<string | undefined> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > max) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
