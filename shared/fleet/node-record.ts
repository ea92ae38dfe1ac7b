import { fleetDefaults } from './fleet-keys.js'

/** What a node measures about itself at each heartbeat; null when it has nothing to say. */
export interface LiveFigures {
  /** Requests answered per second since the previous heartbeat. */
  requestsPerSecond: number | null
  /** Fileproxy: bytes held by the cache. */
  cacheBytes: number | null
  /** Fileproxy: hits / (hits + misses) since the previous heartbeat. */
  cacheHitRatio: number | null
  /** Gateway: sessions held by the session cache. */
  sessionsCached: number | null
  /** Fileproxy: id of the last purge applied (not reported yet). */
  lastPurgeId: string | null
  /** Tasks running on this node; null on a node that runs no tasks. */
  tasksRunning: number | null
}

export const noFigures: LiveFigures = {
  requestsPerSecond: null, cacheBytes: null, cacheHitRatio: null, sessionsCached: null, lastPurgeId: null, tasksRunning: null
}

/** Who a node is; written at every heartbeat, with its figures. */
export interface NodeIdentity {
  id: string
  role: string
  version: string
  hostname: string
  pid: number
  /** Public and admin listeners as bound (`http://0.0.0.0:8080`). */
  url: string
  adminUrl: string
  /** Epoch ms. */
  startedAt: number
  /** Its own rule: missing after this long without a heartbeat (ms). */
  goneAfterMs: number
}

/** One node as `podside status --json` and `GET /v1/nodes` show it. */
export interface NodeView extends LiveFigures {
  id: string
  role: string | null
  /** `live`: heartbeat within its gone-after time; `missing`: it stopped within the last minute. */
  state: 'live' | 'missing'
  version: string | null
  hostname: string | null
  pid: number | null
  url: string | null
  adminUrl: string | null
  startedAt: string | null
  lastHeartbeatAt: string
  heartbeatAgeMs: number
}

/** The hash fields of a node (Redis stores strings; an empty string is null). */
export function toHash (node: NodeIdentity, figures: LiveFigures): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...node, ...figures })) fields[key] = value === null ? '' : String(value)
  return fields
}

export function fromHash (id: string, hash: Record<string, string>, lastBeat: number, now: number): NodeView {
  const str = (key: string): string | null => hash[key] === undefined || hash[key] === '' ? null : hash[key]
  const num = (key: string): number | null => {
    const n = Number(str(key) ?? NaN)
    return Number.isFinite(n) ? n : null
  }
  const started = num('startedAt')
  const age = Math.max(0, now - lastBeat)
  return {
    id,
    role: str('role'),
    state: age > (num('goneAfterMs') ?? fleetDefaults.goneAfterMs) ? 'missing' : 'live',
    version: str('version'),
    hostname: str('hostname'),
    pid: num('pid'),
    url: str('url'),
    adminUrl: str('adminUrl'),
    startedAt: started === null ? null : new Date(started).toISOString(),
    lastHeartbeatAt: new Date(lastBeat).toISOString(),
    heartbeatAgeMs: age,
    requestsPerSecond: num('requestsPerSecond'),
    cacheBytes: num('cacheBytes'),
    cacheHitRatio: num('cacheHitRatio'),
    sessionsCached: num('sessionsCached'),
    lastPurgeId: str('lastPurgeId'),
    tasksRunning: num('tasksRunning')
  }
}
