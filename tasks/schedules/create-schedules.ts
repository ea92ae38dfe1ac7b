import type { Registry } from 'prom-client'
import type { Logger } from '../../shared/logger.js'
import type { RedisClient } from '../../shared/redis-client.js'
import { createScheduleMetrics } from './metrics.js'
import type { Schedule } from './schedule.js'
import { scheduleKeys } from './schedule-keys.js'
import { scheduleRoutes } from './schedule-routes.js'
import type { ScheduleStore } from './schedule-store.js'
import { createMemoryScheduleStore } from './schedule-store-memory.js'
import { createRedisScheduleStore } from './schedule-store-redis.js'
import { createScheduler, type Scheduler, schedulerDefaults } from './scheduler.js'
import type { ScheduleQueue } from './task-queue-port.js'
import type { AdminRoute } from '../../shared/admin-server.js'
import type { TaskKeys } from '../task-keys.js'

export interface SchedulesDeps {
  queue: ScheduleQueue
  /** The daemon's command connection; without it schedules live in memory (one node). */
  redis?: RedisClient
  /** The queue's keys, so schedules share its hash tag (one Cluster slot). @default taskKeys() */
  keys?: TaskKeys
  settings: {
    /** `--schedules FILE`, read and validated with the settings: put into the store at start. */
    schedules?: readonly Schedule[]
  }
  logger: Logger
  metrics: Registry
  now?: () => number
  nodeId?: string
  /** Tests only: moves the Redis store's clock (see createRedisScheduleStore). */
  skewMs?: () => number
  timing?: Partial<typeof schedulerDefaults>
}

export interface Schedules {
  routes: AdminRoute
  store: ScheduleStore
  scheduler: Scheduler
  start (): void
  stop (): Promise<void>
}

/**
 * Schedules of one node: the store (Redis, or memory), the tick loop and the admin routes. The
 * file's schedules are put at start, and again every `pollMs` until Redis took them all (a node
 * may start while Redis is away).
 */
export function createSchedules (deps: SchedulesDeps): Schedules {
  const now = deps.now ?? Date.now
  const log = deps.nodeId === undefined ? deps.logger : deps.logger.child({ node: deps.nodeId })
  const store = deps.redis === undefined
    ? createMemoryScheduleStore(now)
    : createRedisScheduleStore(deps.redis, { keys: scheduleKeys(deps.keys), skewMs: deps.skewMs })
  const scheduler = createScheduler({ store, queue: deps.queue, log, metrics: createScheduleMetrics(deps.metrics), now, timing: deps.timing })
  let toPut = [...deps.settings.schedules ?? []]
  let putTimer: NodeJS.Timeout | undefined
  let stopped = false

  async function putFileSchedules (): Promise<void> {
    while (toPut.length > 0 && !stopped) {
      const s = toPut[0]
      try {
        const change = await store.put(s)
        log.info({ schedule: s.name, change }, 'schedule from --schedules')
        toPut = toPut.slice(1)
      } catch (err) {
        log.warn({ err, schedule: s.name }, 'schedule: cannot store --schedules yet (Redis unreachable?); trying again')
        putTimer = setTimeout(() => { void putFileSchedules() }, schedulerDefaults.pollMs)
        return
      }
    }
  }

  return {
    routes: scheduleRoutes({ store, scheduler, queue: deps.queue, retryAfterSeconds: 1 }),
    store,
    scheduler,
    start () {
      void putFileSchedules().then(() => { if (!stopped) scheduler.start() })
    },
    async stop () {
      stopped = true
      clearTimeout(putTimer)
      await scheduler.stop()
    }
  }
}
