import { taskKeys, type TaskKeys } from '../task-keys.js'

/**
 * Where schedules live in Redis: beside the task queue's keys, under the same Cluster hash tag, so
 * one schedule's claim and the queue's scripts are on one slot (DESIGN: every key of a queue shares
 * one hash tag). One set of names and one hash per schedule: no SCAN is ever needed.
 */
export function scheduleKeys (queue: TaskKeys | string = taskKeys()) {
  const prefix = typeof queue === 'string' ? queue : queue.scheduleKey('').slice(0, -'schedule:'.length)
  return {
    names: `${prefix}schedules`,
    schedule: (name: string): string => `${prefix}schedule:${name}`
  }
}
export type ScheduleKeys = ReturnType<typeof scheduleKeys>
