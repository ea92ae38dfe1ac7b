import { Cron } from 'croner'
import { formatDuration, parseDuration } from '../../shared/units.js'
import { TASK_NAME } from '../queue.js'

/**
 * One schedule, as the file, `PUT /v1/schedules/<name>` and Redis hold it (DESIGN "Network tasks",
 * Schedules). Durations are ms once parsed; the text form is what the operator wrote.
 */
export interface Schedule {
  readonly name: string
  /** `every` (a fixed interval, ticks counted from the epoch) or `cron` (with `tz`). */
  readonly every?: number
  readonly cron?: string
  readonly tz?: string
  readonly on: 'one' | 'every'
  readonly overlap: 'skip' | 'allow'
  readonly catchUp: 'latest' | 'none'
  readonly task: { readonly name: string, readonly payload?: unknown, readonly timeout?: number }
}

/** Every default of a schedule, and the bounds of what one may ask. */
export const scheduleDefaults = {
  on: 'one' as const,
  overlap: 'skip' as const, // a slow run is never joined by the next one unless asked
  catchUp: 'latest' as const, // after an outage, the newest missed tick runs once
  minEveryMs: 100, // 100 ms: shorter would be mostly Redis round trips
  maxEveryMs: 366 * 86_400_000 // 366 d
}

/** Names of schedules: safe in a Redis key, a URL path segment and a Prometheus label. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

const FIELDS = new Set(['every', 'cron', 'tz', 'on', 'overlap', 'catchUp', 'task'])
const TASK_FIELDS = new Set(['name', 'payload', 'timeout'])

/**
 * Reads one schedule from parsed JSON/YAML. Returns the schedule, or every problem found, each
 * naming its field (`<where>.every: expected …, got …`), so one answer or one exit lists them all.
 */
export function parseSchedule (name: string, raw: unknown, where = name): Schedule | string[] {
  const problems: string[] = []
  const bad = (field: string, expected: string, got: unknown): void => {
    problems.push(`${where}${field === '' ? '' : '.' + field}: expected ${expected}, got ${show(got)}`)
  }
  if (!NAME.test(name)) bad('', 'a schedule name of letters, digits, ".", "_" or "-" (at most 100)', name)
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    bad('', 'an object such as {"every":"30s","task":{"name":"…"}}', raw)
    return problems
  }
  const r = raw as Record<string, unknown>
  for (const key of Object.keys(r)) if (!FIELDS.has(key)) problems.push(`${where}.${key}: unknown field (known: ${[...FIELDS].join(', ')})`)

  let every: number | undefined
  let cron: string | undefined
  let tz: string | undefined
  if ((r.every === undefined) === (r.cron === undefined)) {
    problems.push(`${where}: exactly one of "every" and "cron" is required`)
  }
  if (r.every !== undefined) {
    every = typeof r.every === 'string' ? parseDuration(r.every) : undefined
    if (every === undefined || every < scheduleDefaults.minEveryMs || every > scheduleDefaults.maxEveryMs) {
      bad('every', `a duration from ${formatDuration(scheduleDefaults.minEveryMs)} to ${formatDuration(scheduleDefaults.maxEveryMs)} such as "30s"`, r.every)
      every = undefined
    }
    if (r.tz !== undefined) problems.push(`${where}.tz: only with "cron" (an "every" schedule counts from the epoch)`)
  }
  if (r.tz !== undefined && (typeof r.tz !== 'string' || !validTimeZone(r.tz))) bad('tz', 'an IANA time zone such as "Europe/Paris"', r.tz)
  else if (typeof r.tz === 'string') tz = r.tz
  if (r.cron !== undefined) {
    const problem = typeof r.cron === 'string' ? cronProblem(r.cron, tz) : 'not text'
    if (problem === undefined) cron = r.cron as string
    else bad('cron', `a cron expression of 5 or 6 fields such as "*/5 * * * *" (${problem})`, r.cron)
  }

  const on = choice(r.on, ['one', 'every'], scheduleDefaults.on, 'on', bad)
  const overlap = choice(r.overlap, ['skip', 'allow'], scheduleDefaults.overlap, 'overlap', bad)
  const catchUp = choice(r.catchUp, ['latest', 'none'], scheduleDefaults.catchUp, 'catchUp', bad)

  let task: Schedule['task'] | undefined
  if (r.task === null || typeof r.task !== 'object' || Array.isArray(r.task)) {
    bad('task', 'an object such as {"name":"count-uploads","payload":{},"timeout":"30s"}', r.task)
  } else {
    const t = r.task as Record<string, unknown>
    for (const key of Object.keys(t)) if (!TASK_FIELDS.has(key)) problems.push(`${where}.task.${key}: unknown field (known: ${[...TASK_FIELDS].join(', ')})`)
    if (typeof t.name !== 'string' || !TASK_NAME.test(t.name)) bad('task.name', 'a task name of 1 to 128 of A-Z a-z 0-9 . _ ~ -', t.name)
    let timeout: number | undefined
    if (t.timeout !== undefined) {
      timeout = typeof t.timeout === 'string' ? parseDuration(t.timeout) : undefined
      if (timeout === undefined || timeout === 0) { bad('task.timeout', 'a duration such as "30s"', t.timeout); timeout = undefined }
    }
    task = { name: t.name as string, ...t.payload === undefined ? {} : { payload: t.payload }, ...timeout === undefined ? {} : { timeout } }
  }
  if (problems.length > 0 || task === undefined) return problems
  return { name, ...every === undefined ? {} : { every }, ...cron === undefined ? {} : { cron }, ...tz === undefined ? {} : { tz }, on, overlap, catchUp, task }
}

/** The JSON form of a schedule (durations as text again), as `GET /v1/schedules` shows and Redis stores it. */
export function scheduleJson (s: Schedule): Record<string, unknown> {
  return {
    ...s.every === undefined ? {} : { every: formatDuration(s.every) },
    ...s.cron === undefined ? {} : { cron: s.cron },
    ...s.tz === undefined ? {} : { tz: s.tz },
    on: s.on,
    overlap: s.overlap,
    catchUp: s.catchUp,
    task: { name: s.task.name, ...s.task.payload === undefined ? {} : { payload: s.task.payload }, ...s.task.timeout === undefined ? {} : { timeout: formatDuration(s.task.timeout) } }
  }
}

function choice<C extends string> (value: unknown, choices: readonly C[], dflt: C, field: string, bad: (f: string, e: string, g: unknown) => void): C {
  if (value === undefined) return dflt
  if ((choices as readonly unknown[]).includes(value)) return value as C
  bad(field, `one of ${choices.map((c) => `"${c}"`).join(', ')}`, value)
  return dflt
}

/** croner parses the expression; one that can never fire (`0 0 30 2 *`) is refused too. */
function cronProblem (expr: string, tz: string | undefined): string | undefined {
  try {
    const cron = new Cron(expr, { paused: true, mode: '5-or-6-parts', ...tz === undefined ? {} : { timezone: tz } })
    return cron.nextRun() === null ? 'it never fires' : undefined
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, '')
  }
}

/** Asked of croner: it converts a date into the zone, which fails for a zone the runtime does not know. */
function validTimeZone (tz: string): boolean {
  try {
    new Cron('* * * * *', { paused: true, timezone: tz }).nextRun()
    return true
  } catch {
    return false
  }
}

function show (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}
