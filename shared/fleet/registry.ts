import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from '../logger.js'
import type { RedisClient } from '../redis-client.js'
import { FLEET_KEY, fleetDefaults, nodeKey } from './fleet-keys.js'
import { noFigures, toHash, type LiveFigures, type NodeIdentity } from './node-record.js'
import { checked, readFleet, type FleetView } from './read-fleet.js'
import { podsideVersion } from './version.js'

export interface FleetRegistryOptions {
  client: RedisClient
  /** `gateway`, `fileproxy`… */
  role: string
  /** The node's id (a daemon that names itself elsewhere too, e.g. as a task consumer). @default random per start */
  id?: string
  log: Logger
  /** This node's figures at each heartbeat; a failure leaves them empty for that heartbeat. */
  figures?: (now: number) => Promise<LiveFigures> | LiveFigures
  /** Epoch ms; the heartbeat's score and every age are measured with it. @default Date.now */
  clock?: () => number
  /** @default 5000 (5 s) */
  intervalMs?: number
  /** @default 15000 (15 s) */
  goneAfterMs?: number
  /** @default 60000 (1 min) */
  forgetAfterMs?: number
  /** @default 3600000 (1 h) */
  nodeTtlMs?: number
}

export interface FleetRegistry {
  /** Random per process start. */
  readonly id: string
  /** Registers the node and heartbeats every `intervalMs` until `stop`. */
  start (addresses: { url: string, adminUrl: string }): void
  /** One heartbeat now; false when Redis did not take it (logged once per outage). Never rejects. */
  beat (): Promise<boolean>
  /** The whole fleet, as this node sees it now. */
  read (): Promise<FleetView>
  /** Stops heartbeating and removes the node: a clean shutdown is not a missing node. */
  stop (): Promise<void>
}

/**
 * This node's entry in the fleet registry (see fleet-keys.ts for the layout). Each heartbeat writes
 * the node's hash, its score in the sorted set, and drops nodes silent for over a minute, in one
 * MULTI (one slot under Cluster). The timer is unref'd and the next heartbeat is scheduled only
 * when the last one is done, so a slow Redis never piles them up or holds the process.
 */
export function createFleetRegistry (opts: FleetRegistryOptions): FleetRegistry {
  const clock = opts.clock ?? Date.now
  const intervalMs = opts.intervalMs ?? fleetDefaults.heartbeatMs
  const forgetAfterMs = opts.forgetAfterMs ?? fleetDefaults.forgetAfterMs
  const ttlMs = opts.nodeTtlMs ?? fleetDefaults.nodeTtlMs
  const { client, log } = opts
  const id = opts.id ?? newNodeId()
  const log1 = log.child({ fleetNode: id })
  let identity: NodeIdentity | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  let failing = false

  async function figures (now: number): Promise<LiveFigures> {
    if (opts.figures === undefined) return noFigures
    try { return await opts.figures(now) } catch (err) {
      log1.warn({ err }, 'fleet figures failed; heartbeat sent without them')
      return noFigures
    }
  }

  async function beat (): Promise<boolean> {
    if (identity === undefined || stopped) return false
    const now = clock()
    try {
      const fields = toHash(identity, await figures(now))
      checked(await client.multi()
        .hset(nodeKey(id), fields)
        .pexpire(nodeKey(id), ttlMs)
        .zadd(FLEET_KEY, now, id)
        .zremrangebyscore(FLEET_KEY, '-inf', `(${now - forgetAfterMs}`)
        .pexpire(FLEET_KEY, ttlMs)
        .exec())
      if (failing) log1.info('fleet heartbeat restored')
      failing = false
      return true
    } catch (err) {
      if (!failing) log1.warn({ err }, 'fleet heartbeat failed; retrying every interval (logged once per outage)')
      failing = true
      return false
    }
  }

  /** A heartbeat now, then the next one `intervalMs` after it ends. */
  function cycle (): void {
    clearTimeout(timer)
    if (stopped || running !== undefined) return
    running = beat().then(() => {
      running = undefined
      if (stopped) return
      timer = setTimeout(cycle, intervalMs)
      timer.unref()
    })
  }

  return {
    id,
    start (addresses) {
      if (identity !== undefined) return
      identity = {
        id,
        role: opts.role,
        version: podsideVersion(),
        hostname: hostname(),
        pid: process.pid,
        url: addresses.url,
        adminUrl: addresses.adminUrl,
        startedAt: clock(),
        goneAfterMs: opts.goneAfterMs ?? fleetDefaults.goneAfterMs
      }
      // Each (re)connection heartbeats at once: a node appears as soon as Redis can hear it.
      client.on('ready', cycle)
      if (client.status === 'ready') cycle()
      else { timer = setTimeout(cycle, intervalMs); timer.unref() }
    },
    beat,
    read: async () => await readFleet(client, clock(), forgetAfterMs),
    async stop () {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      client.off('ready', cycle)
      await running
      if (identity === undefined) return
      try {
        checked(await client.multi().zrem(FLEET_KEY, id).del(nodeKey(id)).exec())
      } catch (err) {
        log1.warn({ err }, 'could not leave the fleet registry; the node will show as missing for a minute')
      }
    }
  }
}

/** A node id: random per process start. */
export function newNodeId (): string {
  return randomBytes(6).toString('hex')
}
