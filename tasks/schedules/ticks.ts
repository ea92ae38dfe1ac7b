import { Cron } from 'croner'
import type { Schedule } from './schedule.js'

/** The tick due at some instant (the newest one not after it) and the one after, epoch ms. */
export interface TickWindow { due: number, next: number }

/**
 * Ticks are named by their time (epoch ms), so every node names the same ticks without talking:
 * an `every` schedule's ticks are the multiples of its interval since the epoch; a cron schedule's
 * are croner's runs in its zone (DST gaps skip local times that do not exist, and a time that
 * occurs twice runs once for a fixed-time expression: croner's rules, tested at both edges).
 */
export function tickWindow (schedule: Schedule, now: number): TickWindow {
  if (schedule.every !== undefined) {
    const due = Math.floor(now / schedule.every) * schedule.every
    return { due, next: due + schedule.every }
  }
  const cron = cronOf(schedule)
  // previousRuns leaves out a run exactly at its reference: ask from 1 ms later.
  const before = cron.previousRuns(1, new Date(now + 1))[0]
  if (before === undefined) return { due: Number.MIN_SAFE_INTEGER, next: cron.nextRun(new Date(now))?.getTime() ?? Number.MAX_SAFE_INTEGER }
  // croner's backward search does not see a run its forward search moves out of a DST gap (02:30
  // on a spring-forward night runs at 03:00): step forward from it, so both agree with nextRun.
  let due = before.getTime()
  for (;;) {
    const next = cron.nextRun(new Date(due))?.getTime() ?? Number.MAX_SAFE_INTEGER
    if (next > now) return { due, next }
    due = next
  }
}

const crons = new Map<string, Cron>()

/** One croner object per expression and zone (parsing is the costly part); never started. */
function cronOf (schedule: Schedule): Cron {
  const id = `${schedule.cron as string}\n${schedule.tz ?? ''}`
  let cron = crons.get(id)
  if (cron === undefined) {
    if (crons.size > 1000) crons.clear()
    cron = new Cron(schedule.cron as string, { paused: true, mode: '5-or-6-parts', ...schedule.tz === undefined ? {} : { timezone: schedule.tz } })
    crons.set(id, cron)
  }
  return cron
}
