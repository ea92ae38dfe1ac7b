import { createHash } from 'node:crypto'

/**
 * The part of the task queue (tasks/task-queue.ts) schedules use: enqueue with an idempotency key,
 * and read a task's state for `overlap: "skip"`. Typed here so the scheduler depends on these two
 * calls only, and its tests can record them.
 */
export interface ScheduledTaskSpec {
  /** A tick's task is named after the tick (`tickTaskId`), so a recovery can look for it first. */
  id?: string
  name: string
  /** The request body the app receives: the schedule's payload as JSON. */
  payload?: string
  key?: string
  timeoutMs?: number
  on?: 'any' | 'every'
  /** RFC 3339: the tick's time, sent to the app as `Podside-Task-Scheduled-For` on every attempt. */
  scheduledFor?: string
  schedule?: string
}

export type TaskState = 'queued' | 'delayed' | 'running' | 'done' | 'dead' | 'cancelled'

export interface ScheduleQueue {
  add (spec: ScheduledTaskSpec): Promise<{ id: string, state: string, duplicate?: boolean }>
  get (id: string): Promise<{ id: string, state: TaskState } | undefined>
}

/** A task in one of these states has not finished: the next tick of an `overlap: "skip"` schedule waits. */
export const UNFINISHED: ReadonlySet<string> = new Set(['queued', 'delayed', 'running'])

/** The id of a tick's task: the same on every node, 32 hex digits as the queue's ids. */
export function tickTaskId (schedule: string, tick: number): string {
  return createHash('sha256').update(`schedule\0${schedule}\0${tick}`).digest('hex').slice(0, 32)
}
