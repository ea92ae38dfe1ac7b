import { createLogger } from '../shared/logger.js'
import { redisSetting, commonSettings } from '../shared/daemon-settings.js'
import { readFleet } from '../shared/fleet/read-fleet.js'
import { closeRedis, createRedisClient, waitReady } from '../shared/redis-client.js'
import type { RedisTarget } from '../shared/redis-url.js'
import { duration, oneOf, text, type Values } from '../shared/setting-kinds.js'
import { PodsideError } from '../shared/errors.js'
import { describeTask } from './admin-routes.js'
import { createTaskQueue, TASK_ID } from './queue.js'
import { tasksSettings } from './settings.js'
import { createRedisTaskStore } from './store/redis.js'
import { TASK_STATES, type TaskQueue } from './task-queue.js'
import { validateTask } from './validate-task.js'

const client = {
  redis: redisSetting('the shared queue (required)'),
  redisTimeout: commonSettings.redisTimeout
}

/** `podside tasks <sub>`: what each does, its settings, its arguments. */
export const taskClientCommands = {
  add: {
    about: 'Adds a task: `podside tasks add NAME [--payload JSON] [--key K] [--delay D] [--on every]`; prints its id.',
    args: ' NAME',
    schema: {
      ...client,
      payload: text('the task\'s payload, JSON'),
      key: text('idempotency key: while a task with it is unfinished, that task is the answer'),
      delay: duration('run it no sooner than this from now', { default: 0 }),
      on: oneOf(['any', 'every'] as const, 'any: one node runs it; every: each live node once', { default: 'any' }),
      timeout: tasksSettings.tasksTimeout,
      maxAttempts: tasksSettings.tasksMaxAttempts
    }
  },
  list: {
    about: 'Lists tasks in one state (default dead), oldest first: `podside tasks list [--state S]`.',
    args: '',
    schema: {
      ...client,
      state: oneOf(TASK_STATES, 'the state listed', { default: 'dead' }),
      limit: { ...tasksSettings.tasksConcurrency, help: 'at most this many', default: 100 }
    }
  },
  show: { about: 'Prints a task and its attempts as JSON: `podside tasks show ID`.', args: ' ID', schema: client },
  retry: { about: 'Puts a dead or cancelled task back in the queue: `podside tasks retry ID`.', args: ' ID', schema: client },
  cancel: { about: 'Cancels a task that is not running: `podside tasks cancel ID`.', args: ' ID', schema: client }
}

export type TaskClientCommand = keyof typeof taskClientCommands
type AnyValues = Values<typeof client> & Record<string, unknown>
interface Out { stdout: (s: string) => void, stderr: (s: string) => void }

/** Runs one client subcommand against Redis; the exit code: 0, 1 (not found, failed), 2 (bad input). */
export async function runTaskClient (sub: TaskClientCommand, values: AnyValues, positionals: readonly string[], out: Out): Promise<number> {
  if (positionals.length !== (sub === 'list' ? 0 : 1)) {
    out.stderr(`podside tasks ${sub}: expected${taskClientCommands[sub].args === '' ? ' no arguments' : taskClientCommands[sub].args}\n`)
    return 2
  }
  const arg = positionals[0]
  let spec: ReturnType<typeof validateTask> | undefined
  if (sub === 'add') {
    let payload: unknown
    try { payload = values.payload === undefined ? undefined : JSON.parse(values.payload as string) } catch {
      out.stderr('podside tasks add: --payload: expected JSON\n')
      return 2
    }
    spec = validateTask({ name: arg, payload, key: values.key, delay: values.delay, on: values.on, timeout: values.timeout, maxAttempts: values.maxAttempts })
    if ('problems' in spec) {
      out.stderr(`podside tasks add: ${spec.problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}\n`)
      return 2
    }
  } else if (sub !== 'list' && !TASK_ID.test(arg)) {
    out.stderr(`podside tasks ${sub}: ${JSON.stringify(arg)} is not a task id\n`)
    return 2
  }
  const log = createLogger({ name: 'tasks', level: 'silent' })
  const redis = createRedisClient(values.redis as RedisTarget, { role: 'command', timeoutMs: values.redisTimeout, log })
  try {
    if (!await waitReady(redis, Math.max(2000, values.redisTimeout))) throw new Error('Redis did not answer')
    const store = createRedisTaskStore({ client: redis, retentionMs: tasksSettings.tasksRetention.default as number })
    const queue: TaskQueue = createTaskQueue({
      store, clock: Date.now, defaults: { timeoutMs: values.timeout as number ?? 0, maxAttempts: values.maxAttempts as number ?? 1 },
      nodes: async () => (await readFleet(redis, Date.now())).nodes.filter((n) => n.state === 'live' && n.tasksRunning !== null).map((n) => n.id)
    })
    switch (sub) {
      case 'add': {
        const r = await queue.add((spec as { task: Parameters<TaskQueue['add']>[0] }).task)
        out.stdout(`${r.id}${r.duplicate === true ? ` (duplicate: the key is held by this ${r.state} task)` : ''}\n`)
        return 0
      }
      case 'list':
        for (const r of await queue.list(values.state as typeof TASK_STATES[number], values.limit as number)) {
          out.stdout(`${r.id} ${r.state} ${r.name} attempts=${r.attempts.length}${r.finishedAt === undefined ? '' : ' finished=' + new Date(r.finishedAt).toISOString()}\n`)
        }
        return 0
      case 'show': {
        const r = await queue.get(arg)
        if (r === undefined) { out.stderr(`podside tasks show: no task ${arg}\n`); return 1 }
        out.stdout(JSON.stringify(describeTask(r), null, 2) + '\n')
        return 0
      }
      default: {
        const r = sub === 'retry' ? await queue.retry(arg) : await queue.cancel(arg)
        out.stdout(`${r.id} ${r.state}\n`)
        return 0
      }
    }
  } catch (err) {
    out.stderr(`podside tasks ${sub}: ${err instanceof PodsideError ? `${err.code}: ${err.message}` : (err as Error).message}\n`)
    return 1
  } finally {
    await closeRedis(redis)
  }
}
