import { setMaxListeners } from 'node:events'
import { atMost } from '../shared/deadline.js'
import type { Logger } from '../shared/logger.js'
import { HAND_BACK } from './deliver.js'
import type { TasksMetrics } from './metrics.js'
import type { Taken, TaskStore } from './store/store.js'

export interface ProcessorDeps {
  store: TaskStore
  node: string
  concurrency: number
  leaseMs: number
  blockMs: number
  run: (taken: Taken, signal: AbortSignal) => Promise<void>
  metrics: TasksMetrics
  clock: () => number
  log: Logger
}

/** Given to the calls of tasks taken while the node stops. */
const HANDED_BACK = AbortSignal.abort(HAND_BACK)

interface Running { taken: Taken, done: Promise<void> }

/**
 * Takes tasks and runs them, never more than `concurrency` at once: one loop takes as many as
 * there are free slots (new ones, and those whose holder stopped renewing their lease), one timer
 * renews the leases of the calls still open every third of the lease.
 */
export function createProcessor (deps: ProcessorDeps) {
  const running = new Map<string, Running>()
  // One signal for every call of the node (aborted once the grace of a stop is over), not one
  // controller per task: they were a measurable share of a no-op task's CPU.
  const handBack = new AbortController()
  setMaxListeners(deps.concurrency + 1, handBack.signal) // one per open call
  let stopping = false
  let slotFreed: (() => void) | undefined
  let loop: Promise<void> | undefined
  let renewTimer: NodeJS.Timeout | undefined
  let lastReclaim = 0
  let failing = false
  /** A take failed: its answer may be lost while its entries are leased to this node. */
  let suspect = false

  function launch (taken: Taken, signal: AbortSignal): void {
    const entry: Running = { taken, done: Promise.resolve() }
    running.set(taken.lease, entry)
    entry.done = deps.run(taken, signal).catch((err: unknown) => {
      deps.log.error({ err, task: taken.record.id }, 'task run failed')
    }).finally(() => {
      running.delete(taken.lease)
      slotFreed?.()
    })
  }

  async function take (): Promise<Taken[]> {
    const free = deps.concurrency - running.size
    const now = deps.clock()
    if (suspect) {
      const own = await deps.store.recoverOwn(deps.node, new Set(running.keys()), free, now)
      suspect = false
      if (own.length > 0) {
        deps.log.info({ tasks: own.map((t) => t.record.id) }, 'recovered tasks leased by a take whose answer was lost')
        return own
      }
    }
    // Leases that ran out first: a crashed node's tasks wait no longer than needed.
    if (now - lastReclaim >= deps.leaseMs / 4) {
      lastReclaim = now
      const over = await deps.store.reclaim(deps.node, free, deps.leaseMs, now)
      if (over.length > 0) {
        deps.metrics.takenOver.inc(over.length)
        deps.log.info({ tasks: over.map((t) => t.record.id) }, 'took over tasks whose lease ran out')
        return over
      }
    }
    return await deps.store.take(deps.node, free, Math.min(deps.blockMs, deps.leaseMs / 4), deps.clock())
  }

  async function run (): Promise<void> {
    while (!stopping) {
      if (running.size >= deps.concurrency) {
        await new Promise<void>((resolve) => { slotFreed = resolve })
        slotFreed = undefined
        continue
      }
      let taken: Taken[]
      try {
        taken = await take()
        if (failing) deps.log.info('task store reachable again')
        failing = false
      } catch (err) {
        if (!failing) deps.log.warn({ err }, 'cannot take tasks; retrying every second (logged once per outage)')
        failing = true
        suspect = true
        await new Promise((resolve) => setTimeout(resolve, 1000))
        continue
      }
      // Taken while stopping: handed back at once, the calls still open keep their grace.
      for (const t of taken) launch(t, stopping ? HANDED_BACK : handBack.signal)
    }
  }

  async function renew (): Promise<void> {
    try {
      await deps.store.renew(deps.node, [...running.values()].map((r) => r.taken), deps.clock())
    } catch (err) {
      deps.log.warn({ err }, 'could not renew task leases')
    }
    if (renewTimer !== undefined) renewTimer = setTimeout(() => { void renew() }, deps.leaseMs / 3)
  }

  return {
    get running () { return running.size },
    start () {
      if (loop !== undefined) return
      loop = run()
      renewTimer = setTimeout(() => { void renew() }, deps.leaseMs / 3)
    },
    /** Stops taking; calls still open get `graceMs` to end, then are aborted and handed back. */
    async stop (graceMs: number) {
      stopping = true
      slotFreed?.()
      await loop
      const all = Promise.all([...running.values()].map(async (r) => await r.done))
      await atMost(all, graceMs)
      handBack.abort(HAND_BACK)
      await all
      clearTimeout(renewTimer)
      renewTimer = undefined
    }
  }
}
