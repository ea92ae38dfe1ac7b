import { withDeadline } from '../shared/deadline.js'
import type { RedisClient } from '../shared/redis-client.js'
import type { NodeView } from '../shared/fleet/node-record.js'
import { readFleet } from '../shared/fleet/read-fleet.js'
import { compareEntryIds, readAcks } from './purge-stream.js'

export interface NodeAck {
  node: NodeView
  /** Time from the start of the wait until the acknowledgement was seen; undefined: none in time. */
  ms: number | undefined
}

export interface WaitOptions {
  timeoutMs: number
  /** Between two reads of the acknowledgements. @default 10 */
  pollMs?: number
  /** @default performance.now */
  clock?: () => number
  /** @default Date.now (the fleet registry's clock) */
  wallClock?: () => number
}

/**
 * Waits until every live file proxy of the fleet registry (read once, at the start) has
 * acknowledged the log entry `entry` or a later one (purge-stream.ts: acknowledgements are
 * watermarks), or `timeoutMs` passed. Each node's time is when this reader saw its
 * acknowledgement: one clock, so no skew between hosts, at the cost of the polling interval.
 */
export async function waitForAcks (client: RedisClient, channel: string, entry: string, opts: WaitOptions): Promise<NodeAck[]> {
  const clock = opts.clock ?? (() => performance.now())
  const pollMs = opts.pollMs ?? 10
  const start = clock()
  const fleet = await withDeadline(readFleet(client, (opts.wallClock ?? Date.now)()), opts.timeoutMs, 'the fleet registry did not answer in time')
  const acks: NodeAck[] = fleet.nodes.filter((n) => n.role === 'fileproxy' && n.state === 'live').map((node) => ({ node, ms: undefined }))
  let now = start
  for (;;) {
    // A read Redis never answers ends the wait at its timeout like a node that never acknowledged.
    const left = Math.max(1, opts.timeoutMs - (now - start))
    const seen = await withDeadline(readAcks(client, channel), left, 'no answer').catch(() => ({} as Record<string, string>))
    now = clock()
    for (const a of acks) {
      const at = seen[a.node.id]
      if (a.ms === undefined && at !== undefined && compareEntryIds(at, entry) >= 0) a.ms = Math.round(now - start)
    }
    if (acks.every((a) => a.ms !== undefined) || now - start >= opts.timeoutMs) return acks
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(1, opts.timeoutMs - (now - start)))))
  }
}

/** `<node> (<host>, <url>)`: how the lines and the error name a node. */
export function nodeName (n: NodeView): string {
  return `${n.id} (${n.hostname ?? '?'}, ${n.url ?? '?'})`
}

/** One line per node, in the fleet's order. */
export function ackLines (acks: NodeAck[]): string {
  return acks.map((a) => a.ms === undefined ? `${nodeName(a.node)} did not acknowledge\n` : `${nodeName(a.node)} acknowledged in ${a.ms} ms\n`).join('')
}
