import type { Logger } from '../logger.js'
import { closeRedis, createRedisClient, type RedisClient } from '../redis-client.js'
import type { RedisTarget } from '../redis-url.js'
import { parseDuration } from '../units.js'
import { fleetDefaults } from './fleet-keys.js'
import { liveFigures, type FigureSources } from './live-figures.js'
import type { FleetView } from './read-fleet.js'
import { createFleetRegistry, type FleetRegistry } from './registry.js'

/**
 * Undocumented, for tests only: a shorter heartbeat (e.g. `200ms`), the gone-after time scaled
 * with it (three heartbeats, as 5 s / 15 s), so a test sees a killed node go missing in a second.
 */
const TEST_HEARTBEAT_ENV = 'PODSIDE_FLEET_HEARTBEAT'

export interface DaemonFleet {
  /** Connects and starts heartbeating (after the daemon listens). */
  start (addresses: { url: string, adminUrl: string }): void
  /** The fleet as this node reads it (`GET /v1/nodes`). */
  read (): Promise<FleetView>
  /** Leaves the registry and closes the connection. */
  stop (): Promise<void>
}

/**
 * A daemon's place in the fleet, on a Redis connection of its own (a stalled request-path
 * connection is reset by the gateway; the heartbeat should not share that fate, nor delay
 * requests), opened by `start` so a daemon that never listens holds none. Undefined without
 * --redis: there is no fleet then.
 */
export function joinFleet (role: string, target: RedisTarget | undefined,
  opts: { log: Logger, timeoutMs: number, figures: FigureSources, id?: string }): DaemonFleet | undefined {
  if (target === undefined) return undefined
  const heartbeat = parseDuration(process.env[TEST_HEARTBEAT_ENV] ?? '')
  const timing = heartbeat === undefined || heartbeat <= 0
    ? {}
    : { intervalMs: heartbeat, goneAfterMs: heartbeat * (fleetDefaults.goneAfterMs / fleetDefaults.heartbeatMs) }
  let joined: { client: RedisClient, registry: FleetRegistry } | undefined
  return {
    start (addresses) {
      if (joined !== undefined) return
      const client = createRedisClient(target, { role: 'command', timeoutMs: opts.timeoutMs, log: opts.log })
      joined = { client, registry: createFleetRegistry({ client, role, id: opts.id, log: opts.log, figures: liveFigures(opts.figures), ...timing }) }
      joined.registry.start(addresses)
    },
    async read () {
      if (joined === undefined) throw new Error('not in the fleet yet: the node is starting')
      return await joined.registry.read()
    },
    async stop () {
      if (joined === undefined) return
      await joined.registry.stop()
      await closeRedis(joined.client)
    }
  }
}
