import type { Attempt, TaskRecord, TaskState } from '../task-queue.js'

/** A task hash (flat field/value list of Buffers) as a record, and its payload. */
export function parseRecord (flat: Buffer[]): { record: TaskRecord, payload: Buffer } {
  const h = new Map<string, Buffer>()
  for (let i = 0; i < flat.length; i += 2) h.set(flat[i].toString(), flat[i + 1])
  const str = (f: string): string | undefined => h.get(f)?.toString()
  const num = (f: string): number | undefined => { const v = str(f); return v === undefined ? undefined : Number(v) }
  const attempts = str('attempts')
  const record: TaskRecord = {
    id: str('id') ?? '',
    name: str('name') ?? '',
    state: (str('state') ?? 'queued') as TaskState,
    contentType: str('ct') ?? 'application/json',
    on: (str('on') ?? 'any') as 'any' | 'every',
    timeoutMs: num('timeout') ?? 0,
    maxAttempts: num('max') ?? 1,
    createdAt: num('created') ?? 0,
    attempts: attempts === undefined ? [] : JSON.parse(`[${attempts}]`) as Attempt[]
  }
  const optional: Array<[keyof TaskRecord, unknown]> = [['key', str('key')], ['scheduledFor', str('sf')], ['schedule', str('sched')],
    ['dueAt', num('due')], ['finishedAt', num('finished')], ['node', str('node')], ['children', str('children')?.split(',')]]
  for (const [f, v] of optional) if (v !== undefined) (record as unknown as Record<string, unknown>)[f] = v
  return { record, payload: h.get('payload') ?? Buffer.alloc(0) }
}
