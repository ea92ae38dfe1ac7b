import type { Logger } from '../logger.js'
import { closeRedis, createRedisClient } from '../redis-client.js'
import type { RedisTarget } from '../redis-url.js'
import { parseDuration } from '../units.js'
import { fleetDefaults } from './fleet-keys.js'
import { liveFigures, type FigureSources } from './live-figures.js'
import { createFleetRegistry, type FleetRegistry } from './registry.js'

/**
 * Undocumented, for tests only: a shorter heartbeat (e.g. `200ms`), the gone-after time scaled
 * with it (three heartbeats, as 5 s / 15 s), so a test sees a killed node go missing in a second.
 */
const TEST_HEARTBEAT_ENV = 'PODSIDE_FLEET_HEARTBEAT'

export type DaemonFleet = Pick<FleetRegistry, 'id' | 'start' | 'read' | 'stop'>

/**
 * A daemon's place in the fleet, on a Redis connection of its own (a stalled request-path
 * connection is reset by the gateway; the heartbeat should not share that fate, nor delay
 * requests). Undefined without --redis: there is no fleet then.
 */
export function joinFleet (role: string, target: RedisTarget | undefined,
  opts: { log: Logger, timeoutMs: number, figures: FigureSources }): DaemonFleet | undefined {
  if (target === undefined) return undefined
  const client = createRedisClient(target, { role: 'command', timeoutMs: opts.timeoutMs, log: opts.log })
  const heartbeat = parseDuration(process.env[TEST_HEARTBEAT_ENV] ?? '')
  const timing = heartbeat === undefined || heartbeat <= 0
    ? {}
    : { intervalMs: heartbeat, goneAfterMs: heartbeat * (fleetDefaults.goneAfterMs / fleetDefaults.heartbeatMs) }
  const registry = createFleetRegistry({ client, role, log: opts.log, figures: liveFigures(opts.figures), ...timing })
  return {
    id: registry.id,
    start: registry.start,
    read: registry.read,
    async stop () {
      await registry.stop()
      await closeRedis(client)
    }
  }
}
