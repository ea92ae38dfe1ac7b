import type { AddResult, Attempt, TaskFields, TaskRecord, TaskState } from '../task-queue.js'

/** A task as the queue hands it to the store: validated, with its defaults filled in. */
export interface StoredTask extends TaskFields {
  payload: Buffer
}

/** One task a node took: what it needs to call the app, and what names the lease. */
export interface Taken {
  record: TaskRecord
  payload: Buffer
  /** Which attempt this is (1-based). */
  attempt: number
  /** The lease: the stream entry this node holds (opaque to callers). */
  lease: string
  /** True when taken over from a node whose lease ran out. */
  takenOver: boolean
}

/** What follows an attempt: finished, or back in line at `dueAt`. */
export type Next = { state: 'done' | 'dead' } | { state: 'delayed', dueAt: number }

export interface QueueCounts {
  byState: Record<TaskState, number>
  /** Epoch ms at which the longest-waiting queued task entered the queue. */
  oldestQueuedAt?: number
}

/**
 * Where tasks live: in this process (memory) or in Redis. One contract (test/tasks/store/contract.ts)
 * runs against each. `now` is passed in, so tests move time without waiting.
 */
export interface TaskStore {
  readonly kind: 'memory' | 'redis'
  /** Writes the task atomically (record, key, queue or delayed set). `nodes`: for `on: every`, one copy per node. */
  add (task: StoredTask, nodes: readonly string[], now: number): Promise<AddResult>
  get (id: string): Promise<TaskRecord | undefined>
  list (state: TaskState, limit: number): Promise<TaskRecord[]>
  /** Takes up to `count` ready tasks for `node` (waiting up to `blockMs` for one); each is running from now. */
  take (node: string, count: number, blockMs: number, now: number): Promise<Taken[]>
  /** Takes up to `count` tasks whose holder stopped renewing for `leaseMs`. */
  reclaim (node: string, count: number, leaseMs: number, now: number): Promise<Taken[]>
  /**
   * Tasks leased to `node` that it does not know it holds (`holding`: the leases it runs): a take
   * whose answer was lost (a timeout while Redis stalled) still leased its entries. They are started
   * again at once instead of waiting for their lease to run out.
   */
  recoverOwn (node: string, holding: ReadonlySet<string>, count: number, now: number): Promise<Taken[]>
  /** Renews the leases of tasks `node` is running. */
  renew (node: string, taken: readonly Taken[], now: number): Promise<void>
  /** Records the attempt and moves the task on. A finish for an attempt that is no longer current only records it. */
  finish (taken: Taken, attempt: Attempt, next: Next, now: number): Promise<void>
  /** The node stops: the task goes back to the queue at once (the attempt is recorded, not counted). */
  handBack (taken: Taken, attempt: Attempt, now: number): Promise<void>
  /** Moves delayed tasks that are due into the queue; returns how many. */
  promote (now: number, limit: number): Promise<number>
  /** A dead or cancelled task back into the queue, with a fresh count of attempts. */
  retry (id: string, now: number): Promise<TaskRecord>
  /** Cancels a task that is not running (TASK_ERR_RUNNING while it runs). */
  cancel (id: string, now: number): Promise<TaskRecord>
  counts (): Promise<QueueCounts>
  /** Forgets finished tasks older than the retention. */
  sweep (now: number): Promise<void>
  ping (): Promise<void>
  close (): Promise<void>
}

export interface StoreOptions {
  /** How long done and cancelled tasks stay inspectable (ms). */
  retentionMs: number
}

export const FINISHED: ReadonlySet<TaskState> = new Set(['done', 'dead', 'cancelled'])
