import type { Logger } from '../../shared/logger.js'
import type { ScheduleMetrics } from './metrics.js'
import type { Schedule } from './schedule.js'
import type { Claim, RunResult, ScheduleStore } from './schedule-store.js'
import { tickTaskId, UNFINISHED, type ScheduleQueue } from './task-queue-port.js'
import { tickWindow } from './ticks.js'

/** Timing rules of the schedule loop, in one place. */
export const schedulerDefaults = {
  pollMs: 1000, // 1 s: the longest a node goes without looking (recovery, changes to schedules)
  refreshMs: 1000, // 1 s: how often the list of schedules is re-read (another node's PUT or DELETE)
  recoverMs: 5000, // 5 s: a claimed tick left unrecorded this long (its node died) is re-enqueued
  lateMaxMs: 10_000 // 10 s: a tick claimed later than this after its time is late (catchUp decides)
}

export interface SchedulerDeps {
  store: ScheduleStore
  queue: ScheduleQueue
  log: Logger
  metrics: ScheduleMetrics
  /** This process's clock (epoch ms): only to time its own timers; due-ness is the store's clock. */
  now: () => number
  timing?: Partial<typeof schedulerDefaults>
}

export interface Scheduler {
  /** One pass: refresh the list if due, claim every schedule whose tick is due. Tests call it directly. */
  poll (): Promise<void>
  start (): void
  /** Stops the loop; a pass under way finishes first, so no tick this node claimed is left unrecorded. */
  stop (): Promise<void>
  /** Enqueues a schedule's task now, whatever its ticks (the trigger route). Undefined: no such schedule. */
  trigger (name: string): Promise<{ id: string, state: string } | undefined>
}

interface Local { schedule: Schedule, wakeAt: number }

/**
 * The schedule loop of one node (no leader: every node runs it). Each schedule is looked at when
 * its next tick is due by this node's estimate of the store's clock, and at least every `pollMs`;
 * the store's claim decides. The node that claims a tick enqueues its task with the key
 * `schedule:<name>:<tick>`, so a repeated enqueue of the same tick (a recovery) finds the first.
 */
export function createScheduler (deps: SchedulerDeps): Scheduler {
  const t = { ...schedulerDefaults, ...deps.timing }
  const { store, queue, log, metrics } = deps
  const local = new Map<string, Local>()
  let offset = 0 // store clock − this clock, from the last answer
  let refreshedAt = -Infinity
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = true

  async function refresh (): Promise<void> {
    const states = await store.list()
    const seen = new Set<string>()
    for (const { schedule } of states) {
      seen.add(schedule.name)
      const known = local.get(schedule.name)
      if (known === undefined) local.set(schedule.name, { schedule, wakeAt: -Infinity })
      else known.schedule = schedule
    }
    for (const name of local.keys()) if (!seen.has(name)) forget(name)
    refreshedAt = deps.now()
  }

  function forget (name: string): void {
    local.delete(name)
    metrics.forget(name)
  }

  async function claim (s: Local): Promise<void> {
    let window = tickWindow(s.schedule, deps.now() + offset)
    for (let attempt = 0; attempt < 3; attempt++) {
      const sent = deps.now()
      const c = await store.claim(s.schedule.name, window, { recoverMs: t.recoverMs })
      const back = deps.now()
      offset = c.now - Math.round((sent + back) / 2)
      if (c.kind === 'gone') { forget(s.schedule.name); return }
      if (c.kind === 'claimed' || c.kind === 'recover') await runTick(s.schedule, c)
      const fresh = tickWindow(s.schedule, c.now)
      // Early by the store's clock: wait for the tick; late (a tick passed meanwhile): ask again now.
      if (c.kind === 'window' && c.now >= window.next) { window = fresh; continue }
      s.wakeAt = Math.min(fresh.next - offset, deps.now() + t.pollMs)
      return
    }
  }

  /** Decides what becomes of a tick this node holds, enqueues its task, and records the outcome. */
  async function runTick (schedule: Schedule, c: Extract<Claim, { tick: number }>): Promise<void> {
    const name = schedule.name
    const late = c.now - c.tick > lateMs(schedule, c.tick)
    let result: RunResult = late ? 'caught_up' : 'run'
    let taskId: string | undefined
    try {
      if (late && schedule.catchUp === 'none') {
        result = 'missed'
      } else if (schedule.overlap === 'skip' && c.previousTaskId !== undefined &&
        UNFINISHED.has((await queue.get(c.previousTaskId))?.state ?? 'done')) {
        result = 'skipped'
      } else if (c.kind === 'recover' && await queue.get(tickTaskId(name, c.tick)) !== undefined) {
        // Its claimer added the task and died before recording it: the task runs once, as it is.
        taskId = tickTaskId(name, c.tick)
      } else {
        taskId = (await queue.add({
          id: tickTaskId(name, c.tick),
          name: schedule.task.name,
          ...schedule.task.payload === undefined ? {} : { payload: JSON.stringify(schedule.task.payload) },
          ...schedule.task.timeout === undefined ? {} : { timeoutMs: schedule.task.timeout },
          key: `schedule:${name}:${c.tick}`,
          on: schedule.on === 'every' ? 'every' : 'any',
          scheduledFor: new Date(c.tick).toISOString(),
          schedule: name
        })).id
      }
    } catch (err) {
      metrics.count(name, 'failed', c.now)
      // Left pending: after recoverMs a node (maybe this one) enqueues it again, unless the queue
      // refused the task itself (a 4xx): that would fail again, so it is recorded as failed.
      const status = (err as { statusCode?: number }).statusCode
      log.error({ err, schedule: name, tick: new Date(c.tick).toISOString() }, 'schedule: the tick\'s task could not be enqueued')
      if (status === undefined || status < 400 || status >= 500) return
      result = 'failed'
    }
    await store.record(name, { tick: c.tick, at: c.now, result, ...taskId === undefined ? {} : { taskId } })
    if (result !== 'failed') metrics.count(name, result, c.now)
    log.info({ schedule: name, tick: new Date(c.tick).toISOString(), result, taskId, recovered: c.kind === 'recover' || undefined }, 'schedule tick')
  }

  async function pass (): Promise<void> {
    if (deps.now() - refreshedAt >= t.refreshMs) await refresh()
    for (const s of [...local.values()]) {
      if (s.wakeAt > deps.now()) continue
      try {
        await claim(s)
      } catch (err) {
        log.warn({ err, schedule: s.schedule.name }, 'schedule: claim failed (Redis unreachable?); trying again')
        s.wakeAt = deps.now() + Math.min(t.pollMs, 250)
      }
    }
  }

  function loop (): void {
    if (stopped) return
    let failed = false
    running = pass().catch((err: unknown) => {
      failed = true
      log.warn({ err }, 'schedule: cannot read the schedules (Redis unreachable?); trying again')
    }).finally(() => {
      running = undefined
      if (stopped) return
      const wake = failed ? deps.now() + Math.min(t.pollMs, 250) : Math.min(refreshedAt + t.refreshMs, ...[...local.values()].map((s) => s.wakeAt))
      timer = setTimeout(loop, Math.max(5, Math.min(t.pollMs, wake - deps.now())))
    })
  }

  return {
    poll: pass,
    start () {
      if (!stopped) return
      stopped = false
      loop()
    },
    async stop () {
      stopped = true
      clearTimeout(timer)
      await running
    },
    async trigger (name) {
      const state = await store.get(name)
      if (state === undefined) return undefined
      const s = state.schedule
      const at = await store.now()
      const task = await queue.add({
        name: s.task.name,
        ...s.task.payload === undefined ? {} : { payload: JSON.stringify(s.task.payload) },
        ...s.task.timeout === undefined ? {} : { timeoutMs: s.task.timeout },
        on: s.on === 'every' ? 'every' : 'any',
        scheduledFor: new Date(at).toISOString(),
        schedule: name
      })
      await store.record(name, { tick: at, at, result: 'triggered', taskId: task.id })
      metrics.count(name, 'triggered', at)
      return { id: task.id, state: task.state }
    }
  }

  /** Half a period, at most lateMaxMs: a live fleet claims a tick within one poll of its time. */
  function lateMs (schedule: Schedule, tick: number): number {
    const period = schedule.every ?? (tickWindow(schedule, tick).next - tick)
    return Math.min(period / 2, t.lateMaxMs)
  }
}
