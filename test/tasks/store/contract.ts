import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { StoredTask, Taken, TaskStore } from '../../../tasks/store/store.js'
import type { Attempt } from '../../../tasks/task-queue.js'

/**
 * One behaviour contract for every task store: memory, Redis standalone and Redis Cluster run it.
 * Time is passed in; leases are exercised with lease lengths of 0 and a minute, never by waiting.
 */
export const RETENTION = 3_600_000
const T0 = 1_800_000_000_000

export function task (extra: Partial<StoredTask> = {}): StoredTask {
  return { id: randomBytes(16).toString('hex'), name: 'mail', payload: Buffer.from('{"to":"a@b.c"}'), contentType: 'application/json', on: 'any', timeoutMs: 5000, maxAttempts: 3, createdAt: T0, ...extra }
}

function attempt (t: Taken, outcome: Attempt['outcome'], node = 'n1'): Attempt {
  return { n: t.attempt, node, start: T0, durationMs: 5, outcome, ...outcome === 'done' ? { status: 200 } : { status: 503, error: 'the app answered 503' } }
}

export function taskStoreContract (t: Test, make: () => Promise<TaskStore>): void {
  let store: TaskStore
  t.beforeEach(async () => { store = await make() })
  t.afterEach(async () => { await store.close() })

  t.test('an added task is taken once, running, with its payload verbatim and attempt 1', async (t) => {
    const payload = Buffer.from([0, 255, 10, 13, 34, 92])
    const a = task({ payload, key: undefined, scheduledFor: '2026-01-01T00:00:00Z', schedule: 's1' })
    t.same(await store.add(a, [], T0), { id: a.id, state: 'queued' })
    t.equal((await store.get(a.id))?.state, 'queued')
    const [taken, ...more] = await store.take('n1', 10, 0, T0 + 1)
    t.same(more, [])
    t.equal(taken.record.id, a.id)
    t.equal(taken.attempt, 1)
    t.equal(taken.takenOver, false)
    t.same(taken.payload, payload)
    t.match(taken.record, { name: 'mail', state: 'running', maxAttempts: 3, timeoutMs: 5000, scheduledFor: '2026-01-01T00:00:00Z', schedule: 's1' })
    t.same(await store.take('n2', 10, 0, T0 + 2), [], 'nobody else gets it')
  })

  t.test('a node takes no more than the count it asks for', async (t) => {
    for (let i = 0; i < 5; i++) await store.add(task(), [], T0)
    t.equal((await store.take('n1', 2, 0, T0)).length, 2)
    t.equal((await store.take('n1', 10, 0, T0)).length, 3)
  })

  t.test('done: the attempt is recorded and the record kept for inspection', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    const [taken] = await store.take('n1', 1, 0, T0)
    await store.finish(taken, attempt(taken, 'done'), { state: 'done' }, T0 + 10)
    const rec = await store.get(a.id)
    t.match(rec, { state: 'done', finishedAt: T0 + 10 })
    t.match(rec?.attempts, [{ n: 1, node: 'n1', outcome: 'done', status: 200 }])
    t.same((await store.list('done', 10)).map((r) => r.id), [a.id])
    t.same(await store.take('n1', 1, 0, T0 + 11), [])
  })

  t.test('a retry waits in the delayed set until due, then runs as attempt 2', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    const [first] = await store.take('n1', 1, 0, T0)
    await store.finish(first, attempt(first, 'retry'), { state: 'delayed', dueAt: T0 + 1000 }, T0 + 5)
    t.match(await store.get(a.id), { state: 'delayed', dueAt: T0 + 1000 })
    t.equal(await store.promote(T0 + 999, 100), 0)
    t.same(await store.take('n1', 1, 0, T0 + 999), [])
    t.equal(await store.promote(T0 + 1000, 100), 1)
    const [second] = await store.take('n1', 1, 0, T0 + 1001)
    t.equal(second.attempt, 2)
    t.match(second.record.attempts, [{ n: 1, outcome: 'retry', status: 503 }])
  })

  t.test('a task added with a time in the future is delayed until then', async (t) => {
    const a = task({ dueAt: T0 + 60_000 })
    t.same(await store.add(a, [], T0), { id: a.id, state: 'delayed' })
    t.equal(await store.promote(T0 + 59_999, 100), 0)
    t.equal(await store.promote(T0 + 60_000, 100), 1)
    t.equal((await store.take('n1', 1, 0, T0 + 60_000))[0]?.record.id, a.id)
  })

  t.test('dead tasks are listed, can be retried with fresh attempts, and cancelled', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    const [taken] = await store.take('n1', 1, 0, T0)
    await store.finish(taken, attempt(taken, 'dead'), { state: 'dead' }, T0 + 1)
    t.same((await store.list('dead', 10)).map((r) => r.id), [a.id])
    t.match(await store.retry(a.id, T0 + 2), { state: 'queued' })
    t.same(await store.list('dead', 10), [])
    const [again] = await store.take('n1', 1, 0, T0 + 3)
    t.equal(again.attempt, 1, 'a retried task has its attempts afresh')
    await store.finish(again, attempt(again, 'dead'), { state: 'dead' }, T0 + 4)
    t.match(await store.cancel(a.id, T0 + 5), { state: 'cancelled' })
    t.same((await store.list('cancelled', 10)).map((r) => r.id), [a.id])
  })

  t.test('retry refuses a task that is not dead or cancelled; unknown ids are not found', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    await t.rejects(store.retry(a.id, T0), { code: 'TASK_ERR_NOT_RETRYABLE' })
    await t.rejects(store.retry('0'.repeat(32), T0), { code: 'TASK_ERR_NOT_FOUND' })
    await t.rejects(store.cancel('0'.repeat(32), T0), { code: 'TASK_ERR_NOT_FOUND' })
  })

  t.test('a cancelled task is never run; a running one cannot be cancelled', async (t) => {
    const a = task()
    const b = task()
    await store.add(a, [], T0)
    await store.add(b, [], T0)
    t.match(await store.cancel(a.id, T0 + 1), { state: 'cancelled' })
    const taken = await store.take('n1', 10, 0, T0 + 2)
    t.same(taken.map((x) => x.record.id), [b.id])
    await t.rejects(store.cancel(b.id, T0 + 3), { code: 'TASK_ERR_RUNNING' })
  })

  t.test('an idempotency key gives one task while it is unfinished, and a new one after', async (t) => {
    const a = task({ key: 'order-7' })
    t.same(await store.add(a, [], T0), { id: a.id, state: 'queued' })
    t.same(await store.add(task({ key: 'order-7' }), [], T0), { id: a.id, state: 'queued', duplicate: true })
    const [taken] = await store.take('n1', 1, 0, T0)
    t.same(await store.add(task({ key: 'order-7' }), [], T0), { id: a.id, state: 'running', duplicate: true })
    await store.finish(taken, attempt(taken, 'done'), { state: 'done' }, T0 + 1)
    const c = task({ key: 'order-7' })
    t.same(await store.add(c, [], T0 + 2), { id: c.id, state: 'queued' })
  })

  t.test('a lease that ran out is taken over by another node; the late finish of the first only records its attempt', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    const [first] = await store.take('n1', 1, 0, T0)
    t.same(await store.reclaim('n2', 10, 60_000, T0 + 1), [], 'not within the lease')
    const [over] = await store.reclaim('n2', 10, 0, T0 + 2)
    t.equal(over.record.id, a.id)
    t.equal(over.attempt, 2)
    t.equal(over.takenOver, true)
    await store.finish(first, attempt(first, 'retry', 'n1'), { state: 'delayed', dueAt: T0 + 10 }, T0 + 3)
    t.equal((await store.get(a.id))?.state, 'running', 'the stale finish did not move the task')
    await store.finish(over, attempt(over, 'done', 'n2'), { state: 'done' }, T0 + 4)
    t.equal((await store.get(a.id))?.state, 'done')
    t.same(await store.reclaim('n3', 10, 0, T0 + 5), [], 'acknowledged: nothing left to take over')
  })

  t.test('renewing keeps a lease; a renewed task is not taken over within the lease', async (t) => {
    await store.add(task(), [], T0)
    const taken = await store.take('n1', 1, 0, T0)
    await store.renew('n1', taken, T0 + 50_000)
    t.same(await store.reclaim('n2', 10, 60_000, T0 + 60_001), [])
  })

  t.test('entries leased by a take whose answer was lost are recovered by their node at once', async (t) => {
    const a = task()
    const b = task()
    await store.add(a, [], T0)
    await store.add(b, [], T0)
    const taken = await store.take('n1', 2, 0, T0)
    const keep = taken.find((x) => x.record.id === a.id)!
    t.same(await store.recoverOwn('n2', new Set(), 10, T0), [], 'not another node\'s')
    const [lost, ...more] = await store.recoverOwn('n1', new Set([keep.lease]), 10, T0 + 1)
    t.same(more, [])
    t.equal(lost.record.id, b.id)
    t.equal(lost.attempt, 2)
  })

  t.test('a handed-back task is queued again at once, its attempt recorded but not counted', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    const [taken] = await store.take('n1', 1, 0, T0)
    await store.handBack(taken, attempt(taken, 'handed-back'), T0 + 1)
    t.equal((await store.get(a.id))?.state, 'queued')
    const [again] = await store.take('n2', 1, 0, T0 + 2)
    t.equal(again.attempt, 1)
    t.match(again.record.attempts, [{ outcome: 'handed-back' }])
  })

  t.test('on: every makes one copy per node, each taken only by its own node', async (t) => {
    const a = task({ on: 'every' })
    t.same(await store.add(a, ['n1', 'n2'], T0), { id: a.id, state: 'queued' })
    const parent = await store.get(a.id)
    t.equal(parent?.children?.length, 2)
    t.same(await store.take('n3', 10, 0, T0), [])
    const [mine] = await store.take('n1', 10, 0, T0)
    t.match(mine.record, { node: 'n1', name: 'mail' })
    const [theirs] = await store.take('n2', 10, 0, T0)
    t.match(theirs.record, { node: 'n2' })
    t.not(mine.record.id, theirs.record.id)
  })

  t.test('counts by state, and when the oldest queued task entered the queue', async (t) => {
    await store.add(task(), [], T0 + 5)
    await store.add(task(), [], T0 + 9)
    await store.add(task({ dueAt: T0 + 100_000 }), [], T0)
    const c = await store.counts()
    t.match(c.byState, { queued: 2, delayed: 1, running: 0, done: 0 })
    t.equal(c.oldestQueuedAt, T0 + 5)
  })

  t.test('finished tasks leave the listing after the retention', async (t) => {
    const a = task()
    await store.add(a, [], T0)
    const [taken] = await store.take('n1', 1, 0, T0)
    await store.finish(taken, attempt(taken, 'done'), { state: 'done' }, T0)
    await store.sweep(T0 + RETENTION - 1)
    t.equal((await store.list('done', 10)).length, 1)
    await store.sweep(T0 + RETENTION)
    t.same(await store.list('done', 10), [])
  })

  t.test('a blocked take wakes for a task added meanwhile', async (t) => {
    const waiting = store.take('n1', 1, 5000, T0)
    const a = task()
    await store.add(a, [], T0)
    t.equal((await waiting)[0]?.record.id, a.id)
  })
}
