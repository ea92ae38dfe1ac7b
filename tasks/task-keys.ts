/**
 * Where a queue lives in Redis. Every key of one queue carries the same hash tag (`{default}`), so
 * under Cluster they share one slot: the scripts that move a task between them stay atomic. A
 * schedules module keeps its keys under the same tag (`scheduleKey`).
 */
export interface TaskKeys {
  readonly tag: string
  /** Stream of tasks ready to run (entry field `id`), read by the consumer group `group`. */
  readonly stream: string
  readonly group: string
  /** Sorted set: task id → when it is due (epoch ms): delayed tasks and retries waiting for their backoff. */
  readonly delayed: string
  /** Sorted set per state: task id → when it entered the state (listing, counts, retention). */
  index (state: string): string
  /** Hash: one task's record. */
  task (id: string): string
  /** String: idempotency key → id of the task holding it. */
  key (key: string): string
  /** Stream of tasks for one node only (`on: every` copies), read by the same group. */
  nodeStream (node: string): string
  /** Sorted set: node id → last time it read its node stream (the janitor drops streams of gone nodes). */
  readonly nodes: string
  /** For schedules (issue 16): their keys under the queue's tag. */
  scheduleKey (suffix: string): string
}

export const DEFAULT_QUEUE = 'default'

export function taskKeys (queue = DEFAULT_QUEUE): TaskKeys {
  const base = `podside:tasks:{${queue}}`
  return {
    tag: `{${queue}}`,
    stream: `${base}:stream`,
    group: 'podside-workers',
    delayed: `${base}:delayed`,
    index: (state) => `${base}:state:${state}`,
    task: (id) => `${base}:task:${id}`,
    key: (key) => `${base}:key:${key}`,
    nodeStream: (node) => `${base}:node:${node}`,
    nodes: `${base}:nodes`,
    scheduleKey: (suffix) => `${base}:schedule:${suffix}`
  }
}
