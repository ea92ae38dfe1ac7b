import { randomBytes } from 'node:crypto'
import { BadTask, NoTaskNodes, TaskRunning } from './errors.js'
import type { StoredTask, TaskStore } from './store/store.js'
import type { AddResult, NewTask, TaskQueue, TaskRecord, TaskState } from './task-queue.js'

export interface QueueDeps {
  store: TaskStore
  defaults: { timeoutMs: number, maxAttempts: number }
  clock: () => number
  /** Ids of the live nodes that run tasks (`on: every` makes one copy per node). */
  nodes: () => Promise<string[]>
}

export const TASK_ID = /^[0-9a-f]{32}(-\d{1,4})?$/
export const TASK_NAME = /^[A-Za-z0-9._~-]{1,128}$/

/** The queue as the task API, the CLI and schedules use it: ids, defaults, and `on: every` tasks read as one. */
export function createTaskQueue (deps: QueueDeps): TaskQueue & { store: TaskStore } {
  const { store } = deps

  async function withCopies (rec: TaskRecord | undefined): Promise<TaskRecord | undefined> {
    if (rec?.children === undefined) return rec
    const copies = (await Promise.all(rec.children.map(async (id) => await store.get(id)))).filter((c): c is TaskRecord => c !== undefined)
    return { ...rec, state: summary(copies.map((c) => c.state)), copies }
  }

  return {
    store,
    async add (spec: NewTask): Promise<AddResult> {
      if (!TASK_NAME.test(spec.name)) throw new BadTask(`name: expected 1 to 128 of A-Z a-z 0-9 . _ ~ -, got ${JSON.stringify(spec.name)}`)
      if (spec.id !== undefined && !/^[0-9a-f]{32}$/.test(spec.id)) throw new BadTask(`id: expected 32 lowercase hex digits, got ${JSON.stringify(spec.id)}`)
      const now = deps.clock()
      const dueAt = spec.at ?? (spec.delayMs !== undefined && spec.delayMs > 0 ? now + spec.delayMs : undefined)
      const task: StoredTask = {
        id: spec.id ?? randomBytes(16).toString('hex'),
        name: spec.name,
        payload: Buffer.from(spec.payload ?? ''),
        contentType: spec.contentType ?? 'application/json',
        on: spec.on ?? 'any',
        timeoutMs: spec.timeoutMs ?? deps.defaults.timeoutMs,
        maxAttempts: spec.maxAttempts ?? deps.defaults.maxAttempts,
        createdAt: now,
        ...spec.key === undefined ? {} : { key: spec.key },
        ...spec.scheduledFor === undefined ? {} : { scheduledFor: spec.scheduledFor },
        ...spec.schedule === undefined ? {} : { schedule: spec.schedule },
        ...dueAt === undefined ? {} : { dueAt }
      }
      const nodes = task.on === 'every' ? await deps.nodes() : []
      if (task.on === 'every' && nodes.length === 0) throw new NoTaskNodes('no live node runs tasks: an `on: every` task would reach none')
      const r = await store.add(task, nodes, now)
      return r
    },
    get: async (id) => await withCopies(await store.get(id)),
    list: async (state, limit) => await store.list(state, limit),
    async retry (id) {
      const rec = await withCopies(await store.get(id))
      if (rec?.copies === undefined) return await store.retry(id, deps.clock())
      for (const c of rec.copies) if (c.state === 'dead' || c.state === 'cancelled') await store.retry(c.id, deps.clock())
      return await withCopies(await store.get(id)) as TaskRecord
    },
    async cancel (id) {
      const rec = await withCopies(await store.get(id))
      if (rec?.copies === undefined) return await store.cancel(id, deps.clock())
      if (rec.copies.some((c) => c.state === 'running')) throw new TaskRunning(`a copy of task ${id} is running`)
      for (const c of rec.copies) await store.cancel(c.id, deps.clock())
      return await withCopies(await store.get(id)) as TaskRecord
    }
  }
}

/** The state of an `on: every` task from its copies': the least advanced wins. */
export function summary (states: TaskState[]): TaskState {
  for (const s of ['running', 'queued', 'delayed', 'dead'] as const) if (states.includes(s)) return s
  return states.length > 0 && states.every((s) => s === 'cancelled') ? 'cancelled' : 'done'
}
