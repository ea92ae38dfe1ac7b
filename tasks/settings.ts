import { checkListeners, commonSettings, redisSetting } from '../shared/daemon-settings.js'
import { duration, httpUrl, listenAddress, Problem, text, type Setting, type Values } from '../shared/setting-kinds.js'
import { formatDuration, parseDuration } from '../shared/units.js'
import { checkSchedulesFile, schedulesSetting } from './schedules/schedules-setting.js'

const SECOND = 1000
const MINUTE = 60 * SECOND
const DAY = 24 * 3600 * SECOND

/** A whole number from `min` up. */
function count (help: string, opts: { default: number, min: number }): Setting<number> {
  return {
    kind: '<n>', help, default: opts.default, required: false,
    parse: (t) => /^\d+$/.test(t) && Number(t) >= opts.min ? Number(t) : new Problem(`a whole number from ${opts.min} up`),
    show: String
  }
}

export interface Backoff { minMs: number, maxMs: number }

/** `1s..10m`: the first and the largest wait between attempts. */
function backoff (help: string, dflt: Backoff): Setting<Backoff> {
  return {
    kind: '<duration..duration>', help, default: dflt, required: false,
    parse: (t) => {
      const [a, b, extra] = t.split('..')
      const min = parseDuration(a ?? '')
      const max = parseDuration(b ?? '')
      if (extra !== undefined || min === undefined || max === undefined || min <= 0 || max < min) return new Problem('two durations MIN..MAX with 0 < MIN <= MAX, like 1s..10m')
      return { minMs: min, maxMs: max }
    },
    show: (v) => `${formatDuration(v.minMs)}..${formatDuration(v.maxMs)}`
  }
}

/** The tasks' settings, shared by `podside tasks worker` and `podside gateway --tasks`. Durations are ms. */
export const tasksSettings = {
  tasksConcurrency: count('tasks one node runs at once; it takes no more than it has room for', { default: 16, min: 1 }),
  tasksPath: text('path prefix on the app where tasks are delivered (POST <upstream><path>/<name>)', { default: '/_podside/tasks' }),
  tasksTimeout: duration('longest one attempt may take (the call is aborted then)', { default: 60 * SECOND }), // 60 s
  tasksLease: duration('a task whose node stops renewing it (every third of this while the call is open) is taken over by another node', { default: 15 * SECOND }), // 15 s
  tasksMaxAttempts: count('attempts before a task is dead (kept for inspection and retry)', { default: 10, min: 1 }),
  tasksBackoff: backoff('exponential backoff with full jitter between attempts: MIN..MAX', { minMs: SECOND, maxMs: 10 * MINUTE }), // 1 s .. 10 min
  tasksRetention: duration('how long finished tasks stay inspectable (dead ones stay until retried or deleted)', { default: 7 * DAY }), // 7 d
  schedules: schedulesSetting()
}

export type TasksConfig = Values<typeof tasksSettings>

/** `podside tasks worker`: no public listener, the task API on the admin listener. */
export const workerSettings = {
  upstream: httpUrl('the app that runs the tasks, e.g. http://127.0.0.1:3000', { required: true }),
  adminListen: listenAddress('task API, health and metrics listener (keep it private)', { default: { host: '127.0.0.1', port: 9903 } }),
  adminToken: commonSettings.adminToken,
  redis: redisSetting('the shared queue; without it tasks live in this process only (one node)'),
  redisTimeout: commonSettings.redisTimeout,
  shutdownTimeout: commonSettings.shutdownTimeout,
  logLevel: commonSettings.logLevel,
  ...tasksSettings
}

export type WorkerConfig = Values<typeof workerSettings>

/** Limits that are not settings. */
export const tasksLimits = {
  maxPayloadBytes: 1024 * 1024, // 1 MiB of payload per task
  maxBodyBytes: 1024 * 1024 + 64 * 1024, // 1 MiB + 64 KiB: the payload in JSON and the other fields
  minLeaseMs: 300, // 300 ms: renewals every third of it must still be feasible
  blockMs: 1000, // 1 s: longest a node's XREADGROUP waits, so stopping never waits longer
  promoteEveryMs: 100, // 100 ms between moves of due delayed tasks
  promoteBatch: 1000, // delayed tasks moved per script run
  sweepEveryMs: MINUTE, // 1 min between sweeps of finished tasks
  retryAfterSeconds: 1, // Retry-After on 503 while Redis is unreachable
  listLimit: 100, // GET /v1/tasks without limit
  maxListLimit: 1000
}

export function checkTasksConfig (c: TasksConfig): string[] {
  const problems: string[] = []
  if (!/^\/[A-Za-z0-9._~\-/]*[^/]$/.test(c.tasksPath) || c.tasksPath.includes('//')) {
    problems.push(`--tasks-path (PODSIDE_TASKS_PATH): expected a path like /_podside/tasks (no trailing slash), got ${JSON.stringify(c.tasksPath)}`)
  }
  if (c.tasksTimeout <= 0) problems.push('--tasks-timeout (PODSIDE_TASKS_TIMEOUT): expected more than 0, got 0')
  if (c.tasksLease < tasksLimits.minLeaseMs) {
    problems.push(`--tasks-lease (PODSIDE_TASKS_LEASE): expected at least ${tasksLimits.minLeaseMs}ms, got ${formatDuration(c.tasksLease)}`)
  }
  if (c.tasksRetention <= 0) problems.push('--tasks-retention (PODSIDE_TASKS_RETENTION): expected more than 0, got 0')
  problems.push(...checkSchedulesFile(c.schedules))
  return problems
}

export function checkWorkerConfig (c: WorkerConfig): string[] {
  return [...checkTasksConfig(c), ...checkListeners({ listen: { host: '', port: 0 }, adminListen: c.adminListen, adminToken: c.adminToken })]
}
