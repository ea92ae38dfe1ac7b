import { parseDuration } from '../shared/units.js'
import { TASK_NAME } from './queue.js'
import type { NewTask } from './task-queue.js'

export interface FieldProblem { field: string, problem: string }

const FIELDS = new Set(['name', 'payload', 'key', 'delay', 'at', 'timeout', 'maxAttempts', 'on'])
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/**
 * `POST /v1/tasks` body → a task, or every problem found (one 400 names them all). Durations are
 * `30s`-style text or milliseconds; `at` is RFC 3339 or epoch milliseconds.
 */
export function validateTask (body: unknown): { task: NewTask } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = []
  const bad = (field: string, problem: string): void => { problems.push({ field, problem }) }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { problems: [{ field: 'body', problem: 'expected a JSON object' }] }
  const b = body as Record<string, unknown>
  for (const f of Object.keys(b)) if (!FIELDS.has(f)) bad(f, 'unknown field')
  const task: NewTask = { name: '' }
  if (typeof b.name !== 'string' || !TASK_NAME.test(b.name)) bad('name', 'required: 1 to 128 of A-Z a-z 0-9 . _ ~ -')
  else task.name = b.name
  if (b.payload !== undefined) task.payload = JSON.stringify(b.payload)
  if (b.key !== undefined) {
    if (typeof b.key !== 'string' || b.key.length < 1 || b.key.length > 256 || /[\u0000-\u001f\u007f]/.test(b.key)) bad('key', 'expected 1 to 256 characters without control characters')
    else task.key = b.key
  }
  if (b.delay !== undefined && b.at !== undefined) bad('at', 'give delay or at, not both')
  if (b.delay !== undefined) {
    const ms = durationOf(b.delay)
    if (ms === undefined) bad('delay', 'expected a duration like 30s or a number of milliseconds')
    else task.delayMs = ms
  }
  if (b.at !== undefined) {
    const at = typeof b.at === 'number' && Number.isSafeInteger(b.at) && b.at >= 0 ? b.at : typeof b.at === 'string' && RFC3339.test(b.at) ? Date.parse(b.at) : NaN
    if (Number.isNaN(at)) bad('at', 'expected an RFC 3339 time (2026-01-02T03:04:05Z) or epoch milliseconds')
    else task.at = at
  }
  if (b.timeout !== undefined) {
    const ms = durationOf(b.timeout)
    if (ms === undefined || ms <= 0) bad('timeout', 'expected a duration over 0, like 30s, or a number of milliseconds')
    else task.timeoutMs = ms
  }
  if (b.maxAttempts !== undefined) {
    if (typeof b.maxAttempts !== 'number' || !Number.isInteger(b.maxAttempts) || b.maxAttempts < 1 || b.maxAttempts > 1000) bad('maxAttempts', 'expected a whole number from 1 to 1000')
    else task.maxAttempts = b.maxAttempts
  }
  if (b.on !== undefined) {
    if (b.on !== 'any' && b.on !== 'every') bad('on', 'expected "any" or "every"')
    else task.on = b.on
  }
  return problems.length > 0 ? { problems } : { task }
}

function durationOf (v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined
  return typeof v === 'string' ? parseDuration(v) : undefined
}
