import { scheduleJson, type Schedule } from './schedule.js'
import { encodeSchedule, type Claim, type ClaimOptions, type LastRun, type ScheduleState, type ScheduleStore } from './schedule-store.js'
import type { TickWindow } from './ticks.js'

interface Entry {
  def: string
  schedule: Schedule
  lastTick?: number
  pending?: number
  claimedAt?: number
  lastTaskId?: string
  lastRun?: LastRun
}

/**
 * Schedules of one node without Redis: the same rules as the Redis scripts (schedule-scripts.ts),
 * on an injected clock. JavaScript runs one claim at a time, which is what the scripts' atomicity
 * gives the Redis store.
 */
export function createMemoryScheduleStore (clock: () => number): ScheduleStore {
  const entries = new Map<string, Entry>()
  const state = (e: Entry): ScheduleState => ({
    schedule: e.schedule,
    ...e.lastTick === undefined ? {} : { lastTick: e.lastTick },
    ...e.lastRun === undefined ? {} : { lastRun: { ...e.lastRun } }
  })
  return {
    kind: 'memory',
    async put (schedule) {
      const def = encodeSchedule(scheduleJson(schedule))
      const old = entries.get(schedule.name)
      if (old?.def === def) return 'unchanged'
      if (old === undefined) entries.set(schedule.name, { def, schedule })
      else Object.assign(old, { def, schedule })
      return old === undefined ? 'created' : 'updated'
    },
    async delete (name) {
      return entries.delete(name)
    },
    async list () {
      return [...entries.keys()].sort().map((name) => state(entries.get(name) as Entry))
    },
    async get (name) {
      const e = entries.get(name)
      return e === undefined ? undefined : state(e)
    },
    async claim (name: string, window: TickWindow, o: ClaimOptions): Promise<Claim> {
      const now = clock()
      const e = entries.get(name)
      if (e === undefined) return { kind: 'gone', now }
      if (now < window.due || now >= window.next) return { kind: 'window', now }
      const previous = e.lastTaskId === undefined ? {} : { previousTaskId: e.lastTaskId }
      if (e.lastTick === undefined) {
        e.lastTick = window.due
        return { kind: 'baseline', now }
      }
      if (window.due > e.lastTick) {
        Object.assign(e, { lastTick: window.due, pending: window.due, claimedAt: now })
        return { kind: 'claimed', now, tick: window.due, ...previous }
      }
      if (e.pending !== undefined && now - (e.claimedAt as number) >= o.recoverMs) {
        e.claimedAt = now
        return { kind: 'recover', now, tick: e.pending, ...previous }
      }
      return { kind: 'idle', now }
    },
    async record (name, run) {
      const e = entries.get(name)
      if (e === undefined) return
      if (e.pending === run.tick) { e.pending = undefined; e.claimedAt = undefined }
      e.lastRun = { ...run }
      if (run.taskId !== undefined) e.lastTaskId = run.taskId
    },
    async now () {
      return clock()
    }
  }
}
