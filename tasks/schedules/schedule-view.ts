import { scheduleJson } from './schedule.js'
import type { ScheduleState } from './schedule-store.js'
import type { ScheduleQueue } from './task-queue-port.js'
import { tickWindow } from './ticks.js'

/** One schedule as `GET /v1/schedules` and `podside tasks schedules` show it. */
export interface ScheduleView {
  name: string
  definition: Record<string, unknown>
  /** RFC 3339. */
  nextTick: string
  lastRun: null | {
    tick: string
    at: string
    result: string
    taskId: string | null
    /** The state of that run's task now (the outcome): done, dead, running…; null when unknown. */
    taskState: string | null
  }
}

/** Next tick by the store's clock; the last run's task state read from the queue (one read per schedule). */
export async function viewSchedules (states: ScheduleState[], now: number, queue: Pick<ScheduleQueue, 'get'>): Promise<ScheduleView[]> {
  const iso = (ms: number): string => new Date(ms).toISOString()
  return await Promise.all(states.map(async (s) => {
    const run = s.lastRun
    const task = run?.taskId === undefined ? undefined : await queue.get(run.taskId).catch(() => undefined)
    return {
      name: s.schedule.name,
      definition: scheduleJson(s.schedule),
      nextTick: iso(tickWindow(s.schedule, now).next),
      lastRun: run === undefined
        ? null
        : { tick: iso(run.tick), at: iso(run.at), result: run.result, taskId: run.taskId ?? null, taskState: task?.state ?? null }
    }
  }))
}
