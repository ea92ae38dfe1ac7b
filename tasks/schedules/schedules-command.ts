import { commonSettings, redisSetting } from '../../shared/daemon-settings.js'
import { createLogger } from '../../shared/logger.js'
import { closeRedis, createRedisClient, waitReady } from '../../shared/redis-client.js'
import type { RedisTarget } from '../../shared/redis-url.js'
import { boolean, type Values } from '../../shared/setting-kinds.js'
import { createTaskQueue } from '../queue.js'
import { createRedisTaskStore } from '../store/redis.js'
import { tasksSettings } from '../settings.js'
import { createRedisScheduleStore } from './schedule-store-redis.js'
import { viewSchedules, type ScheduleView } from './schedule-view.js'

export const schedulesCommand = {
  about: 'Lists the schedules in Redis, each with its next tick, last run and outcome: `podside tasks schedules [--json]`.',
  args: '',
  schema: {
    redis: redisSetting('the shared queue (required)'),
    redisTimeout: commonSettings.redisTimeout,
    json: boolean('print the schedules as JSON (the same as GET /v1/schedules) instead of a table', { default: false })
  }
}

interface Out { stdout: (s: string) => void, stderr: (s: string) => void }

/** `podside tasks schedules`: 0 listed (even none), 1 Redis did not answer, 2 bad input. */
export async function runSchedulesCommand (values: Values<typeof schedulesCommand.schema>, positionals: readonly string[], out: Out): Promise<number> {
  if (positionals.length > 0) { out.stderr('podside tasks schedules: expected no arguments\n'); return 2 }
  const target = values.redis as RedisTarget
  const redis = createRedisClient(target, { role: 'command', timeoutMs: values.redisTimeout, log: createLogger({ name: 'tasks', level: 'silent' }) })
  try {
    if (!await waitReady(redis, Math.max(2000, values.redisTimeout))) throw new Error(`cannot reach Redis at ${target.href}`)
    const store = createRedisScheduleStore(redis)
    // Only read: the outcome of each last run (an `on: every` task's state sums its copies up).
    const tasks = createTaskQueue({
      store: createRedisTaskStore({ client: redis, retentionMs: tasksSettings.tasksRetention.default as number }),
      clock: Date.now, defaults: { timeoutMs: 0, maxAttempts: 1 }, nodes: async () => []
    })
    const [states, now] = await Promise.all([store.list(), store.now()])
    const views = await viewSchedules(states, now, tasks)
    if (values.json) out.stdout(JSON.stringify({ schedules: views }, null, 2) + '\n')
    else if (views.length === 0) out.stdout(`no schedule in ${target.href}\n`)
    else out.stdout(scheduleTable(views))
    return 0
  } catch (err) {
    out.stderr(`podside tasks schedules: ${(err as Error).message}\n`)
    return 1
  } finally {
    await closeRedis(redis)
  }
}

const COLUMNS: Array<[string, (v: ScheduleView) => string]> = [
  ['NAME', (v) => v.name],
  ['WHEN', (v) => v.definition.every !== undefined ? `every ${v.definition.every as string}` : `cron ${v.definition.cron as string}${v.definition.tz === undefined ? '' : ' ' + (v.definition.tz as string)}`],
  ['ON', (v) => v.definition.on as string],
  ['TASK', (v) => (v.definition.task as { name: string }).name],
  ['NEXT TICK', (v) => v.nextTick],
  ['LAST RUN', (v) => v.lastRun?.tick ?? '-'],
  ['RESULT', (v) => v.lastRun?.result ?? '-'],
  ['OUTCOME', (v) => v.lastRun?.taskState ?? '-']
]

/** Aligned columns, as `podside status` prints the fleet. */
export function scheduleTable (views: ScheduleView[]): string {
  const rows = [COLUMNS.map(([title]) => title), ...views.map((v) => COLUMNS.map(([, cell]) => cell(v)))]
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join('  ')).join('\n') + '\n'
}
