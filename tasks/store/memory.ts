import { TaskNotFound, TaskNotRetryable, TaskRunning } from '../errors.js'
import { TASK_STATES, type AddResult, type Attempt, type TaskRecord, type TaskState } from '../task-queue.js'
import { FINISHED, type Next, type QueueCounts, type StoredTask, type StoreOptions, type Taken, type TaskStore } from './store.js'

interface Entry { id: string, payload: Buffer, rec: TaskRecord, attempt: number, stateAt: number }
interface Held { id: string, node: string, renewedAt: number, attempt: number }

/**
 * The queue in this process (no --redis): one node, nothing survives a restart. It keeps the Redis
 * store's rules (leases, attempts, keys, retention) so the contract holds for both.
 */
export function createMemoryTaskStore (opts: StoreOptions): TaskStore {
  const tasks = new Map<string, Entry>()
  const ready: Array<{ lease: string, id: string, node?: string }> = []
  const held = new Map<string, Held>()
  const keys = new Map<string, string>()
  let seq = 0
  let wake: Array<() => void> = []

  const notify = (): void => { const w = wake; wake = []; for (const f of w) f() }
  const enqueue = (id: string, node?: string): void => { ready.push({ lease: `m-${++seq}`, id, node }); notify() }
  const setState = (e: Entry, state: TaskState, now: number): void => { e.rec.state = state; e.stateAt = now }
  const view = (e: Entry): TaskRecord => structuredClone(e.rec)
  const entry = (id: string): Entry => {
    const e = tasks.get(id)
    if (e === undefined) throw new TaskNotFound(`no task ${id}`)
    return e
  }
  const releaseKey = (rec: TaskRecord): void => { if (rec.key !== undefined && keys.get(rec.key) === rec.id) keys.delete(rec.key) }

  function start (lease: string, id: string, node: string, now: number, takenOver: boolean): Taken | undefined {
    const e = tasks.get(id)
    if (e === undefined || FINISHED.has(e.rec.state)) { held.delete(lease); return undefined }
    e.attempt++
    setState(e, 'running', now)
    held.set(lease, { id, node, renewedAt: now, attempt: e.attempt })
    return { record: view(e), payload: e.payload, attempt: e.attempt, lease, takenOver }
  }

  return {
    kind: 'memory',
    async add (task, nodes, now): Promise<AddResult> {
      if (task.key !== undefined) {
        const holder = tasks.get(keys.get(task.key) ?? '')
        const unfinished = (e: Entry | undefined): boolean => e !== undefined && !FINISHED.has(e.rec.state) &&
          (e.rec.children === undefined || e.rec.children.some((c) => unfinished(tasks.get(c))))
        if (holder !== undefined && unfinished(holder)) return { id: holder.rec.id, state: holder.rec.state, duplicate: true }
      }
      const { payload, dueAt, ...fields } = task
      const state: TaskState = dueAt !== undefined && dueAt > now ? 'delayed' : 'queued'
      const make = (id: string, node?: string, runs = true): Entry => {
        const rec: TaskRecord = { ...fields, id, state, attempts: [], ...dueAt === undefined ? {} : { dueAt }, ...node === undefined ? {} : { node } }
        const e = { id, payload, rec, attempt: 0, stateAt: now }
        tasks.set(id, e)
        if (runs && state === 'queued') enqueue(id, node)
        return e
      }
      if (task.on === 'every') {
        const parent = make(task.id, undefined, false) // not run itself: its copies are
        parent.rec.children = nodes.map((node, i) => make(`${task.id}-${i + 1}`, node).id)
      } else {
        make(task.id)
      }
      if (task.key !== undefined) keys.set(task.key, task.id)
      return { id: task.id, state }
    },
    async get (id) {
      const e = tasks.get(id)
      return e === undefined ? undefined : view(e)
    },
    async list (state, limit) {
      const found = [...tasks.values()].filter((e) => e.rec.state === state && e.rec.children === undefined)
      return found.sort((a, b) => a.stateAt - b.stateAt).slice(0, limit).map(view)
    },
    async take (node, count, blockMs, now) {
      const pick = (): Taken[] => {
        const out: Taken[] = []
        for (let i = 0; i < ready.length && out.length < count;) {
          const r = ready[i]
          if (r.node !== undefined && r.node !== node) { i++; continue }
          ready.splice(i, 1)
          const t = start(r.lease, r.id, node, now, false)
          if (t !== undefined) out.push(t)
        }
        return out
      }
      const first = pick()
      if (first.length > 0 || blockMs <= 0) return first
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, blockMs)
        function done (): void { clearTimeout(timer); wake = wake.filter((f) => f !== done); resolve() }
        wake.push(done)
      })
      return pick()
    },
    async reclaim (node, count, leaseMs, now) {
      const out: Taken[] = []
      for (const [lease, h] of held) {
        if (out.length >= count) break
        if (now - h.renewedAt < leaseMs) continue
        const t = start(lease, h.id, node, now, true)
        if (t !== undefined) out.push(t)
      }
      return out
    },
    async recoverOwn (node, holding, count, now) {
      const out: Taken[] = []
      for (const [lease, h] of held) {
        if (out.length >= count) break
        if (h.node !== node || holding.has(lease)) continue
        const t = start(lease, h.id, node, now, false)
        if (t !== undefined) out.push(t)
      }
      return out
    },
    async renew (node, taken, now) {
      for (const t of taken) {
        const h = held.get(t.lease)
        if (h !== undefined && h.node === node) h.renewedAt = now
      }
    },
    async finish (taken, attempt, next: Next, now) {
      held.delete(taken.lease)
      const e = tasks.get(taken.record.id)
      if (e === undefined) return
      e.rec.attempts.push(attempt)
      if (e.rec.state !== 'running' || e.attempt !== taken.attempt) return
      if (next.state === 'delayed') {
        setState(e, 'delayed', now)
        e.rec.dueAt = next.dueAt
        return
      }
      setState(e, next.state, now)
      e.rec.finishedAt = now
      releaseKey(e.rec)
    },
    async handBack (taken, attempt, now) {
      held.delete(taken.lease)
      const e = tasks.get(taken.record.id)
      if (e === undefined) return
      e.rec.attempts.push(attempt)
      if (e.rec.state !== 'running' || e.attempt !== taken.attempt) return
      e.attempt--
      setState(e, 'queued', now)
      enqueue(e.rec.id, e.rec.node)
    },
    async promote (now, limit) {
      let moved = 0
      for (const e of tasks.values()) {
        if (moved >= limit) break
        if (e.rec.state !== 'delayed' || e.rec.children !== undefined || (e.rec.dueAt ?? 0) > now) continue
        setState(e, 'queued', now)
        enqueue(e.rec.id, e.rec.node)
        moved++
      }
      return moved
    },
    async retry (id, now) {
      const e = entry(id)
      if (e.rec.state !== 'dead' && e.rec.state !== 'cancelled') throw new TaskNotRetryable(`task ${id} is ${e.rec.state}`)
      e.attempt = 0
      delete e.rec.finishedAt
      setState(e, 'queued', now)
      if (e.rec.key !== undefined && !keys.has(e.rec.key)) keys.set(e.rec.key, id)
      enqueue(id, e.rec.node)
      return view(e)
    },
    async cancel (id, now) {
      const e = entry(id)
      if (e.rec.state === 'running') throw new TaskRunning(`task ${id} is running`)
      if (e.rec.state === 'done' || e.rec.state === 'cancelled') return view(e)
      setState(e, 'cancelled', now)
      e.rec.finishedAt = now
      releaseKey(e.rec)
      return view(e)
    },
    async counts (): Promise<QueueCounts> {
      const byState = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>
      let oldestQueuedAt: number | undefined
      for (const e of tasks.values()) {
        if (e.rec.children !== undefined) continue
        byState[e.rec.state]++
        if (e.rec.state === 'queued' && (oldestQueuedAt === undefined || e.stateAt < oldestQueuedAt)) oldestQueuedAt = e.stateAt
      }
      return { byState, ...oldestQueuedAt === undefined ? {} : { oldestQueuedAt } }
    },
    async sweep (now) {
      for (const [id, e] of tasks) {
        const expires = e.rec.children !== undefined ? e.rec.createdAt : e.rec.state === 'done' || e.rec.state === 'cancelled' ? e.stateAt : undefined
        if (expires !== undefined && now - expires >= opts.retentionMs) tasks.delete(id)
      }
    },
    async ping () {},
    async close () { notify() }
  }
}
