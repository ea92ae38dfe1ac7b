import { Registry, collectDefaultMetrics } from 'prom-client'
import { createAdminServer } from '../shared/admin-server.js'
import type { Daemon, DaemonDeps } from '../shared/daemon.js'
import { joinFleet, type DaemonFleet } from '../shared/fleet/join-fleet.js'
import { withNodesRoute } from '../shared/fleet/nodes-route.js'
import { newNodeId } from '../shared/fleet/registry.js'
import { drainable, listen } from '../shared/listen.js'
import type { Logger } from '../shared/logger.js'
import { closeRedis, createRedisClient, waitReady, type RedisClient } from '../shared/redis-client.js'
import type { RedisTarget } from '../shared/redis-url.js'
import { createTasks, type Tasks } from './create-tasks.js'
import { createSchedules } from './schedules/create-schedules.js'
import { schedulesOf } from './schedules/schedules-setting.js'
import { tasksLimits, type TasksConfig, type WorkerConfig } from './settings.js'

/** The Redis connections a node that runs tasks needs: commands, and one for the blocking read. */
export function taskRedis (target: RedisTarget, timeoutMs: number, log: Logger): { client: RedisClient, blocking: RedisClient } {
  return {
    client: createRedisClient(target, { role: 'command', timeoutMs, log }),
    // Its commands wait up to the block time by design: its timeout is longer by that much.
    blocking: createRedisClient(target, { role: 'command', timeoutMs: timeoutMs + tasksLimits.blockMs, log })
  }
}

/** Ids of the live nodes that run tasks (they report the `tasksRunning` figure). */
export function taskNodes (fleet: DaemonFleet | undefined, self: string): () => Promise<string[]> {
  return async () => {
    if (fleet === undefined) return [self]
    const view = await fleet.read()
    return view.nodes.filter((n) => n.state === 'live' && n.tasksRunning !== null).map((n) => n.id)
  }
}

/** Wires the tasks part into a daemon that has a fleet: the shared pieces of the worker and `gateway --tasks`. */
export function tasksForDaemon (config: TasksConfig & { upstream: URL, redis: RedisTarget | undefined, redisTimeout: number },
  deps: { log: Logger, registry: Registry, role: string, requests: string, clock?: () => number, sessionsCached?: () => number | undefined }) {
  const nodeId = newNodeId()
  const redis = config.redis === undefined ? undefined : taskRedis(config.redis, config.redisTimeout, deps.log)
  let tasks: Tasks | undefined
  const fleet = joinFleet(deps.role, config.redis, {
    log: deps.log, timeoutMs: config.redisTimeout, id: nodeId,
    figures: { registry: deps.registry, requests: deps.requests, tasksRunning: () => tasks?.running ?? 0, sessionsCached: deps.sessionsCached }
  })
  tasks = createTasks({ config, redis, log: deps.log, registry: deps.registry, nodeId, liveNodes: taskNodes(fleet, nodeId), clock: deps.clock })
  const schedules = createSchedules({
    queue: tasks.queue, redis: redis?.client, settings: { schedules: schedulesOf(config.schedules) },
    logger: deps.log, metrics: deps.registry, now: deps.clock, nodeId
  })
  return {
    tasks,
    schedules,
    /** The task API and the schedule API, for the admin listener's route chain. */
    routes: (async (req, res, url) => await tasks.routes(req, res, url) || await schedules.routes(req, res, url)) as typeof tasks.routes,
    fleet,
    nodeId,
    redis,
    async closeRedis () {
      if (redis === undefined) return
      await closeRedis(redis.client)
      await closeRedis(redis.blocking)
    }
  }
}

/**
 * `podside tasks worker`: takes tasks from the queue and delivers them to `--upstream`; the task
 * API, health and metrics on the admin listener; no public listener.
 */
export function createTasksWorker (config: WorkerConfig, deps: DaemonDeps): Daemon {
  const { log } = deps
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const part = tasksForDaemon(config, { log, registry, role: 'tasks', requests: 'podside_tasks_finished_total', clock: deps.clock })
  const { tasks, schedules, fleet } = part
  if (config.redis === undefined) log.warn('no --redis: tasks live in this process only; run one node, or set --redis to share them')
  let stopping = false
  const admin = createAdminServer({
    log,
    token: config.adminToken,
    draining: () => stopping,
    registry,
    ready: async () => await tasks.store.ping(),
    routes: withNodesRoute(fleet, part.routes)
  })
  const adminDrain = drainable(admin)
  return {
    async listen () {
      if (part.redis !== undefined) await waitReady(part.redis.client, Math.max(2000, config.redisTimeout))
      const adminUrl = await listen(admin, config.adminListen, '--admin-listen')
      fleet?.start({ url: '', adminUrl })
      tasks.start()
      schedules.start()
      log.info({ url: adminUrl, adminUrl, node: part.nodeId, upstream: config.upstream.href, store: tasks.store.kind, redis: config.redis?.href, concurrency: config.tasksConcurrency }, 'tasks worker listening')
      return { url: adminUrl, adminUrl }
    },
    async close () {
      log.info('tasks worker shutting down')
      stopping = true
      await schedules.stop()
      await tasks.stop(config.shutdownTimeout)
      await fleet?.stop()
      await adminDrain.close(0)
      await part.closeRedis()
      log.info('tasks worker stopped')
    }
  }
}
