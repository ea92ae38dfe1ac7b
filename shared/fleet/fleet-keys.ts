/**
 * Where the fleet lives in Redis. One sorted set (member: node id, score: the node's clock at its
 * last heartbeat, epoch ms) and one hash per node with its fields. The braces are a Cluster hash
 * tag: every fleet key hashes to one slot, so a heartbeat's MULTI and a reader's pipeline never
 * span slots, and no SCAN (which a Cluster answers per node) is ever needed.
 */
export const FLEET_KEY = '{podside:fleet}'

export function nodeKey (id: string): string {
  return `${FLEET_KEY}:${id}`
}

/** The fleet's timing rules, in one place. */
export const fleetDefaults = {
  heartbeatMs: 5_000, // 5 s between heartbeats
  goneAfterMs: 15_000, // 15 s without a heartbeat: the node is missing
  forgetAfterMs: 60_000, // 1 min without a heartbeat: the node leaves the registry
  nodeTtlMs: 3_600_000 // 1 h: a node's hash outlives its last heartbeat by this, then ages out
}
