import type { Registry } from 'prom-client'
import type { AdminRoute } from '../shared/admin-server.js'
import type { Logger } from '../shared/logger.js'
import { isCommandTimeout, resetStalledConnection, type RedisClient } from '../shared/redis-client.js'
import { createDelivery } from './deliver.js'
import { createForwarder } from './forwarder.js'
import { createTasksMetrics } from './metrics.js'
import { createProcessor } from './processor.js'
import { createTaskQueue } from './queue.js'
import { taskRoutes } from './admin-routes.js'
import { createTaskRunner } from './run-task.js'
import { tasksLimits, type TasksConfig } from './settings.js'
import { createMemoryTaskStore } from './store/memory.js'
import { createRedisTaskStore } from './store/redis.js'
import type { TaskStore } from './store/store.js'
import type { TaskQueue } from './task-queue.js'

export interface TasksDeps {
  config: TasksConfig & { upstream: URL }
  /** None: the queue lives in this process (one node). `blocking` is a connection of its own for XREADGROUP. */
  redis?: { client: RedisClient, blocking: RedisClient }
  log: Logger
  /** The daemon's registry: `podside_tasks_*` join its other series. */
  registry: Registry
  /** This node's id in the fleet registry (it names the consumer and `Podside-Node`). */
  nodeId: string
  /** Live nodes that run tasks, from the fleet registry (`on: every`). @default this node only */
  liveNodes?: () => Promise<string[]>
  /** Epoch ms. @default Date.now */
  clock?: () => number
}

export interface Tasks {
  queue: TaskQueue
  store: TaskStore
  /** The task API (`/v1/tasks…`); false for other paths. */
  routes: AdminRoute
  /** Tasks this node runs now (the fleet's live figure). */
  readonly running: number
  /** Starts taking and running tasks. */
  start (): void
  /** Stops taking; calls still open get `timeoutMs` to end, the rest are handed back at once. */
  stop (timeoutMs: number): Promise<void>
}

/**
 * The tasks part of a daemon (`podside tasks worker`, `podside gateway --tasks`): the queue, the
 * loops that run it, and its admin routes.
 *
 * How a schedules module plugs in: it is given `tasks.queue` and adds ticks with
 * `queue.add({ name, payload, scheduledFor, schedule, key })` (a key per tick makes a tick that two
 * nodes claim one task); its own routes go beside these in the daemon's admin route chain, e.g.
 * `async (req, res, url) => await tasks.routes(req, res, url) || await schedules.routes(req, res, url)`,
 * and its Redis keys under the queue's hash tag (`taskKeys().scheduleKey(…)`).
 */
export function createTasks (deps: TasksDeps): Tasks {
  const { config, log } = deps
  const clock = deps.clock ?? Date.now
  const store = deps.redis === undefined
    ? createMemoryTaskStore({ retentionMs: config.tasksRetention })
    : createRedisTaskStore({ client: deps.redis.client, blocking: deps.redis.blocking, retentionMs: config.tasksRetention })
  let processor: ReturnType<typeof createProcessor> | undefined
  const metrics = createTasksMetrics(deps.registry, store, () => processor?.running ?? 0, clock)
  const delivery = createDelivery({ origin: config.upstream, tasksPath: config.tasksPath, node: deps.nodeId, connections: config.tasksConcurrency })
  const run = createTaskRunner({ store, delivery, metrics, node: deps.nodeId, backoff: config.tasksBackoff, clock, log })
  processor = createProcessor({
    store, node: deps.nodeId, concurrency: config.tasksConcurrency, leaseMs: config.tasksLease, blockMs: tasksLimits.blockMs, run, metrics, clock, log
  })
  const forwarder = createForwarder({ store, clock, log, promoteEveryMs: tasksLimits.promoteEveryMs, batch: tasksLimits.promoteBatch, sweepEveryMs: tasksLimits.sweepEveryMs })
  const liveNodes = deps.liveNodes ?? (async () => [deps.nodeId])
  const queue = createTaskQueue({ store, clock, nodes: liveNodes, defaults: { timeoutMs: config.tasksTimeout, maxAttempts: config.tasksMaxAttempts } })
  let started = false
  return {
    queue,
    store,
    // A timed-out write must not land later, after its caller was told 503 (see shared/redis-client.ts).
    routes: taskRoutes(queue, log, (err) => { if (deps.redis !== undefined && isCommandTimeout(err)) resetStalledConnection(deps.redis.client) }),
    get running () { return processor?.running ?? 0 },
    start () {
      if (started) return
      started = true
      processor?.start()
      forwarder.start()
    },
    async stop (timeoutMs) {
      forwarder.stop()
      await processor?.stop(timeoutMs)
      await delivery.close()
      await store.close()
    }
  }
}
