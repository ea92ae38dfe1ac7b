import { Counter, Gauge, type Registry } from 'prom-client'
import type { RunResult } from './schedule-store.js'

export type ScheduleMetrics = ReturnType<typeof createScheduleMetrics>

/** The schedule series of DESIGN "Network tasks", on the daemon's registry. Counted by the node that decided. */
export function createScheduleMetrics (registry: Registry) {
  const runs = new Counter({
    name: 'podside_schedule_runs_total',
    help: 'Schedule ticks this node decided, by schedule and result (run, caught_up, missed, skipped, failed, triggered)',
    labelNames: ['schedule', 'result'],
    registers: [registry]
  })
  const lastRun = new Gauge({
    name: 'podside_schedule_last_run_timestamp_seconds',
    help: 'When this node last enqueued a run of the schedule (Redis time), seconds since the epoch; take the max over nodes',
    labelNames: ['schedule'],
    registers: [registry]
  })
  return {
    count (schedule: string, result: RunResult, atMs: number): void {
      runs.labels({ schedule, result }).inc()
      if (result === 'run' || result === 'caught_up' || result === 'triggered') lastRun.labels({ schedule }).set(atMs / 1000)
    },
    /** A deleted schedule's series go, so a dashboard does not show it forever. */
    forget (schedule: string): void {
      lastRun.remove({ schedule })
      for (const result of ['run', 'caught_up', 'missed', 'skipped', 'failed', 'triggered']) runs.remove({ schedule, result })
    }
  }
}
