import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { TaskStore } from './store/store.js'
import { TASK_STATES } from './task-queue.js'

/** `podside_tasks_*` (DESIGN: Network tasks), on the daemon's own registry. Queue gauges are read when scraped. */
export function createTasksMetrics (registry: Registry, store: TaskStore, running: () => number, clock: () => number) {
  // eslint-disable-next-line no-new -- registered by its constructor, read only when scraped
  new Gauge({
    name: 'podside_tasks_queued', help: 'Tasks in the queue by state', labelNames: ['state'], registers: [registry],
    async collect () {
      const counts = await store.counts().catch(() => undefined)
      if (counts === undefined) return
      for (const s of TASK_STATES) this.set({ state: s }, counts.byState[s])
      oldest.set(counts.oldestQueuedAt === undefined ? 0 : Math.max(0, clock() - counts.oldestQueuedAt) / 1000)
    }
  })
  const oldest = new Gauge({ name: 'podside_tasks_oldest_queued_age_seconds', help: 'Age of the longest-waiting queued task (0 when none)', registers: [registry] })
  // eslint-disable-next-line no-new -- as above
  new Gauge({ name: 'podside_tasks_running', help: 'Tasks this node is running now', registers: [registry], collect () { this.set(running()) } })
  return {
    finished: new Counter({ name: 'podside_tasks_finished_total', help: 'Attempts ended, by task name and result (done, retry, dead, handed-back)', labelNames: ['name', 'result'], registers: [registry] }),
    attemptSeconds: new Histogram({
      name: 'podside_tasks_attempt_duration_seconds', help: 'Duration of one call to the app', registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
    }),
    takenOver: new Counter({ name: 'podside_tasks_taken_over_total', help: 'Tasks taken over from a node whose lease ran out', registers: [registry] })
  }
}

export type TasksMetrics = ReturnType<typeof createTasksMetrics>
