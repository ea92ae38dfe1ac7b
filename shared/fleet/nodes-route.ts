import type { AdminRoute } from '../admin-server.js'
import { sendJson } from '../admin-server.js'
import { sendError } from '../error-response.js'
import { FleetNoRedis, FleetUnavailable } from '../common-errors.js'
import type { FleetView } from './read-fleet.js'

/**
 * `GET /v1/nodes`: the fleet as JSON, the same as `podside status --json`; then the daemon's own
 * routes. `fleet` is undefined when the daemon runs without --redis.
 */
export function withNodesRoute (fleet: { read: () => Promise<FleetView> } | undefined, routes?: AdminRoute): AdminRoute {
  return async (req, res, url) => {
    if (url.pathname === '/v1/nodes' && (req.method === 'GET' || req.method === 'HEAD')) {
      if (fleet === undefined) { sendError(res, new FleetNoRedis()); return true }
      let view: FleetView
      try { view = await fleet.read() } catch (err) {
        sendError(res, new FleetUnavailable(`the fleet registry (Redis) did not answer: ${(err as Error).message}`), { retryAfterSeconds: 1 })
        return true
      }
      sendJson(res, 200, view)
      return true
    }
    return routes === undefined ? false : await routes(req, res, url)
  }
}
