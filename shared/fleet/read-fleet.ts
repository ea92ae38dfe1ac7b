import type { RedisClient } from '../redis-client.js'
import { FLEET_KEY, fleetDefaults, nodeKey } from './fleet-keys.js'
import { fromHash, type NodeView } from './node-record.js'

/** The answer of `podside status --json` and `GET /v1/nodes`. */
export interface FleetView {
  nodes: NodeView[]
  live: number
  missing: number
}

/**
 * Reads the registry. Nodes silent for longer than `forgetAfterMs` are removed first (any reader
 * may do it: ZREMRANGEBYSCORE is idempotent), so what is left is live or missing.
 */
export async function readFleet (client: RedisClient, now: number, forgetAfterMs = fleetDefaults.forgetAfterMs): Promise<FleetView> {
  const listed = await client.multi()
    .zremrangebyscore(FLEET_KEY, '-inf', `(${now - forgetAfterMs}`)
    .zrange(FLEET_KEY, 0, -1, 'WITHSCORES')
    .exec()
  const [, range] = checked(listed)
  const members = range as string[]
  const ids: string[] = []
  const beats: number[] = []
  for (let i = 0; i < members.length; i += 2) { ids.push(members[i]); beats.push(Number(members[i + 1])) }
  const pipeline = client.pipeline()
  for (const id of ids) pipeline.hgetall(nodeKey(id))
  const hashes = ids.length === 0 ? [] : checked(await pipeline.exec()) as Array<Record<string, string>>
  const nodes = ids.map((id, i) => fromHash(id, hashes[i], beats[i], now))
  nodes.sort((a, b) => (a.role ?? '').localeCompare(b.role ?? '') || (a.hostname ?? '').localeCompare(b.hostname ?? '') ||
    (a.url ?? '').localeCompare(b.url ?? '') || a.id.localeCompare(b.id))
  const missing = nodes.filter((n) => n.state === 'missing').length
  return { nodes, live: nodes.length - missing, missing }
}

/** The replies of a MULTI or pipeline; throws the first command error. */
export function checked (replies: Array<[Error | null, unknown]> | null): unknown[] {
  if (replies === null) throw new Error('the transaction was aborted')
  return replies.map(([err, value]) => { if (err !== null) throw err; return value })
}
