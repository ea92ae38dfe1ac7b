/** A task's life: queued → running → done | dead, with delayed (waiting for its time or a retry) and cancelled beside. */
export type TaskState = 'queued' | 'delayed' | 'running' | 'done' | 'dead' | 'cancelled'
export const TASK_STATES: readonly TaskState[] = ['queued', 'delayed', 'running', 'done', 'dead', 'cancelled']

/** What the app (or a schedule) asks for. Durations are ms, times epoch ms. */
export interface NewTask {
  /**
   * The task's id (32 lowercase hex). @default random. Schedules name a tick's task after the tick,
   * so a node that recovers a tick whose claimer died can tell whether its task was added.
   */
  id?: string
  /** Delivered to `POST <upstream><tasks-path>/<name>`. */
  name: string
  /** The request body the app receives (JSON from the task API). */
  payload?: Buffer | string
  /** `content-type` of the payload. @default 'application/json' */
  contentType?: string
  /** Idempotency key: while a task with this key is not finished, adding another returns it. */
  key?: string
  delayMs?: number
  /** Epoch ms; exclusive with delayMs. */
  at?: number
  /** Longest one attempt may take. @default --tasks-timeout */
  timeoutMs?: number
  /** @default --tasks-max-attempts */
  maxAttempts?: number
  /** `any`: one node runs it; `every`: every live node runs it once. @default 'any' */
  on?: 'any' | 'every'
  /** RFC 3339, sent as `Podside-Task-Scheduled-For` on every attempt (schedule ticks). */
  scheduledFor?: string
  /** Schedule name, for metrics and inspection. */
  schedule?: string
}

export interface AddResult {
  id: string
  state: TaskState
  /** True when `key` was held by a task not yet finished: `id` is that task. */
  duplicate?: boolean
}

/** One call to the app. */
export interface Attempt {
  /** 1-based. */
  n: number
  node: string
  /** Epoch ms. */
  start: number
  durationMs: number
  /** `done`, `retry`, `dead`, or `handed-back` (the node stopped before the call ended; not counted). */
  outcome: 'done' | 'retry' | 'dead' | 'handed-back'
  status?: number
  error?: string
}

/** What a task is, once validated with its defaults filled in: stored as given, read back as given. */
export interface TaskFields {
  id: string
  name: string
  contentType: string
  key?: string
  on: 'any' | 'every'
  timeoutMs: number
  maxAttempts: number
  scheduledFor?: string
  schedule?: string
  /** Epoch ms. */
  createdAt: number
  /** When a delayed task becomes due (epoch ms). */
  dueAt?: number
}

export interface TaskRecord extends TaskFields {
  state: TaskState
  /** When it reached done, dead or cancelled (epoch ms). */
  finishedAt?: number
  /** `on: every`: the node this copy is for. */
  node?: string
  /** `on: every`: the per-node copies (their ids). */
  children?: string[]
  /** `on: every`, as the queue reads it: the copies themselves (the record's state sums theirs up). */
  copies?: TaskRecord[]
  attempts: Attempt[]
}

/** The queue as a schedules module (or anything else in-process) uses it. */
export interface TaskQueue {
  add (spec: NewTask): Promise<AddResult>
  get (id: string): Promise<TaskRecord | undefined>
  list (state: TaskState, limit: number): Promise<TaskRecord[]>
  retry (id: string): Promise<TaskRecord>
  cancel (id: string): Promise<TaskRecord>
}
