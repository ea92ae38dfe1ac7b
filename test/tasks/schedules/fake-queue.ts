import type { ScheduledTaskSpec, ScheduleQueue, TaskState } from '../../../tasks/schedules/task-queue-port.js'

/**
 * A stand-in for OUR task queue (tasks/task-queue.ts), not for Redis: it records `add` calls,
 * keeps keys idempotent while a task is unfinished, and lets a test set task states.
 */
export function recordingQueue () {
  const added: Array<ScheduledTaskSpec & { id: string }> = []
  const states = new Map<string, TaskState>()
  const byKey = new Map<string, string>()
  let failWith: Error | undefined
  const queue: ScheduleQueue = {
    async add (spec) {
      if (failWith !== undefined) throw failWith
      const held = spec.key === undefined ? undefined : byKey.get(spec.key)
      if (held !== undefined && ['queued', 'delayed', 'running'].includes(states.get(held) as string)) return { id: held, state: states.get(held) as string, duplicate: true }
      const id = spec.id ?? `task-${added.length + 1}`
      added.push({ ...spec, id })
      states.set(id, 'queued')
      if (spec.key !== undefined) byKey.set(spec.key, id)
      return { id, state: 'queued' }
    },
    async get (id) {
      const state = states.get(id)
      return state === undefined ? undefined : { id, state }
    }
  }
  return {
    queue,
    added,
    setState (id: string, state: TaskState) { states.set(id, state) },
    fail (err: Error | undefined) { failWith = err }
  }
}
