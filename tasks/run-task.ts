import type { Logger } from '../shared/logger.js'
import { backoffMs, type Delivery } from './deliver.js'
import type { TasksMetrics } from './metrics.js'
import type { Backoff } from './settings.js'
import type { Next, Taken, TaskStore } from './store/store.js'
import type { Attempt } from './task-queue.js'

export interface RunTaskDeps {
  store: TaskStore
  delivery: Delivery
  metrics: TasksMetrics
  node: string
  backoff: Backoff
  clock: () => number
  log: Logger
}

/**
 * One attempt, top to bottom: call the app → decide what follows (done, back in line after a
 * backoff, dead after the last attempt) → record it. A store failure here is only logged: the
 * lease then runs out and another node runs the task again (at least once).
 */
export function createTaskRunner (deps: RunTaskDeps) {
  return async function runTask (taken: Taken, signal: AbortSignal): Promise<void> {
    const start = deps.clock()
    const t0 = performance.now()
    const outcome = await deps.delivery.call(taken, signal, start)
    const seconds = (performance.now() - t0) / 1000
    const now = deps.clock()
    const rec = taken.record
    const attempt: Attempt = { n: taken.attempt, node: deps.node, start, durationMs: Math.round(seconds * 1000), outcome: outcome.result }
    if (outcome.status !== undefined) attempt.status = outcome.status
    if (outcome.error !== undefined) attempt.error = outcome.error
    deps.metrics.finished.labels(rec.name, outcome.result).inc()
    deps.metrics.attemptSeconds.observe(seconds)
    try {
      if (outcome.result === 'handed-back') {
        await deps.store.handBack(taken, attempt, now)
        return
      }
      let next: Next = { state: outcome.result === 'retry' ? 'delayed' : outcome.result, dueAt: 0 } as Next
      if (outcome.result === 'retry') {
        if (taken.attempt >= rec.maxAttempts) {
          next = { state: 'dead' }
          attempt.outcome = 'dead'
          attempt.error = `${outcome.error ?? 'retry'}; that was the last of ${rec.maxAttempts} attempts`
        } else {
          next = { state: 'delayed', dueAt: now + backoffMs(taken.attempt, deps.backoff, outcome.retryAfterMs) }
        }
      }
      if (next.state === 'dead') deps.log.warn({ task: rec.id, name: rec.name, attempt: taken.attempt, error: attempt.error }, 'task dead')
      await deps.store.finish(taken, attempt, next, now)
    } catch (err) {
      deps.log.error({ err, task: rec.id }, 'could not record the end of an attempt; the task runs again once its lease runs out')
    }
  }
}
