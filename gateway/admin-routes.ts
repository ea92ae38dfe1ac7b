import type { AdminRoute } from '../shared/admin-server.js'
import { sendJson } from '../shared/admin-server.js'
import { sendError } from '../shared/error-response.js'
import { BadRequest, MethodNotAllowed, NotFound } from './errors.js'
import { SESSION_ID } from './session-cookie.js'
import type { SessionRecord, SessionStore } from './store/store.js'

/**
 * The session API of the admin listener:
 *   GET|DELETE /v1/sessions/<id>, GET|DELETE /v1/users/<user>/sessions
 * Cookie values are never part of an answer: names, paths and expiry only.
 */
export function sessionRoutes (store: SessionStore, clock: () => number): AdminRoute {
  return async (req, res, url) => {
    const session = /^\/v1\/sessions\/([^/]+)$/.exec(url.pathname)
    const user = /^\/v1\/users\/([^/]+)\/sessions$/.exec(url.pathname)
    if (session === null && user === null) return false
    if (req.method !== 'GET' && req.method !== 'DELETE') {
      sendError(res, new MethodNotAllowed('GET or DELETE'), { headers: { allow: 'GET, DELETE' } })
      return true
    }
    try {
      if (session !== null) {
        const id = decodePart(session[1])
        const rec = SESSION_ID.test(id) ? await store.inspect(id, clock()) : undefined
        if (req.method === 'DELETE') {
          if (rec !== undefined) await store.destroy(id)
          res.writeHead(204).end()
        } else if (rec === undefined || rec.movedTo !== undefined) {
          sendError(res, new NotFound('no such session'))
        } else {
          sendJson(res, 200, describe(rec))
        }
        return true
      }
      const name = decodePart((user as RegExpExecArray)[1])
      if (req.method === 'DELETE') {
        await store.destroyUser(name, clock())
        res.writeHead(204).end()
      } else {
        sendJson(res, 200, { sessions: await store.userSessions(name, clock()) })
      }
    } catch (err) {
      sendError(res, err, { retryAfterSeconds: 1 })
    }
    return true
  }
}

function describe (rec: SessionRecord) {
  const iso = (ms: number): string => new Date(ms).toISOString()
  return {
    id: rec.id,
    user: rec.user ?? null,
    created: iso(rec.created),
    lastSeen: iso(rec.lastSeen),
    absoluteExpiry: iso(rec.absoluteExpiry),
    cookies: rec.cookies.map((c) => ({
      name: c.name,
      domain: c.domain,
      path: c.path,
      expires: c.expires === 0 ? null : iso(c.expires),
      secure: c.secure,
      httpOnly: c.httpOnly
    }))
  }
}

/** A path segment's percent-decoding; a malformed one is the client's error (400), not ours. */
function decodePart (part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new BadRequest('malformed percent-encoding in the path')
  }
}
