/**
 * Where schedules live in Redis: beside the task queue's keys, under the same Cluster hash tag, so
 * one schedule's claim and the queue's scripts are on one slot (DESIGN: every key of a queue shares
 * one hash tag). One set of names and one hash per schedule: no SCAN is ever needed.
 */
export function scheduleKeys (prefix = 'podside:tasks:{default}:') {
  return {
    names: `${prefix}schedules`,
    schedule: (name: string): string => `${prefix}schedule:${name}`
  }
}
export type ScheduleKeys = ReturnType<typeof scheduleKeys>
