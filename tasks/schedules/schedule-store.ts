import type { Schedule } from './schedule.js'
import type { TickWindow } from './ticks.js'

/** What became of one tick (or a manual trigger): the `result` label of `podside_schedule_runs_total`. */
export type RunResult =
  | 'run' // the tick's task was enqueued on time
  | 'caught_up' // a late tick (no node was up at its time) was enqueued: catchUp "latest"
  | 'missed' // a late tick was dropped: catchUp "none"
  | 'skipped' // the previous run's task was not finished: overlap "skip"
  | 'failed' // the task could not be enqueued
  | 'triggered' // POST /v1/schedules/<name>/trigger

export interface LastRun {
  /** The tick (epoch ms), or the trigger's time. */
  tick: number
  /** When it was decided (the store's clock: Redis TIME), epoch ms. */
  at: number
  result: RunResult
  taskId?: string
}

export interface ScheduleState {
  schedule: Schedule
  /** The newest tick some node claimed. */
  lastTick?: number
  lastRun?: LastRun
}

/**
 * The answer to one claim attempt. Only `claimed` and `recover` hand a tick to the caller, and a
 * tick is handed out once: by the claim at its time, or by a recovery after its claimer vanished
 * before recording what it did.
 */
export type Claim =
  | { kind: 'claimed' | 'recover', tick: number, now: number, previousTaskId?: string }
  /** Nothing to do: the due tick is claimed already (or it is the schedule's first look, its baseline). */
  | { kind: 'idle' | 'baseline', now: number }
  /** The caller's window does not hold the store's now: recompute it from `now` and ask again. */
  | { kind: 'window', now: number }
  /** The schedule was deleted. */
  | { kind: 'gone', now: number }

export interface ClaimOptions {
  /** A pending tick unrecorded for this long is handed to another claimer (its claimer died). */
  recoverMs: number
}

/**
 * Where schedules and their ticks live: in memory (one node, an injected clock) or in Redis (every
 * node; time is Redis TIME). One contract test runs against both (test/tasks/schedules/store-contract.ts).
 */
export interface ScheduleStore {
  readonly kind: 'memory' | 'redis'
  /** Idempotent: the same definition again changes nothing and keeps the schedule's ticks. */
  put (schedule: Schedule): Promise<'created' | 'updated' | 'unchanged'>
  delete (name: string): Promise<boolean>
  list (): Promise<ScheduleState[]>
  get (name: string): Promise<ScheduleState | undefined>
  /**
   * Claims the tick `window.due` if it is due by the store's clock (`due <= now < next`) and newer
   * than the last claimed tick: atomically, so of any number of concurrent claimers one wins.
   */
  claim (name: string, window: TickWindow, opts: ClaimOptions): Promise<Claim>
  /** Records what became of a tick; the tick stops being pending (recoverable). */
  record (name: string, run: LastRun): Promise<void>
  /** The store's clock (Redis TIME), epoch ms. */
  now (): Promise<number>
}

/** The Redis (or memory) form of a schedule's definition: stable text, so an equal one compares equal. */
export function encodeSchedule (json: Record<string, unknown>): string {
  return JSON.stringify(json)
}
