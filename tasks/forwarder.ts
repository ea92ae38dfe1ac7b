import type { Logger } from '../shared/logger.js'
import type { TaskStore } from './store/store.js'

/**
 * Two small background loops: due delayed tasks (waiting for their time or a retry) into the queue,
 * and, rarely, finished tasks past the retention out of the indexes. Each runs again only once the
 * previous run ended, so a slow Redis never piles them up.
 */
export function createForwarder (deps: { store: TaskStore, clock: () => number, log: Logger, promoteEveryMs: number, batch: number, sweepEveryMs: number }) {
  const timers = new Set<NodeJS.Timeout>()
  let stopped = false
  let failing = false

  function every (ms: number, job: () => Promise<unknown>): void {
    const tick = (): void => {
      job().then(() => {
        if (failing) deps.log.info('task forwarder recovered')
        failing = false
      }, (err: unknown) => {
        if (!failing) deps.log.warn({ err }, 'task forwarder failed; retrying (logged once per outage)')
        failing = true
      }).finally(() => {
        if (stopped) return
        const t = setTimeout(() => { timers.delete(t); tick() }, ms)
        timers.add(t)
      })
    }
    tick()
  }

  return {
    start () {
      every(deps.promoteEveryMs, async () => {
        // A full batch means more are due: go on at once.
        while (await deps.store.promote(deps.clock(), deps.batch) >= deps.batch && !stopped);
      })
      every(deps.sweepEveryMs, async () => await deps.store.sweep(deps.clock()))
    },
    stop () {
      stopped = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
    }
  }
}
