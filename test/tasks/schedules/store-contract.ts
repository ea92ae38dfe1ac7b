import type { Test } from 'tap'
import { parseSchedule, type Schedule } from '../../../tasks/schedules/schedule.js'
import type { ScheduleStore } from '../../../tasks/schedules/schedule-store.js'
import { tickWindow } from '../../../tasks/schedules/ticks.js'

/**
 * One behaviour contract for every schedule store: memory, and Redis (standalone and Cluster).
 * `at(ms)` sets the store's clock (the memory store's injected clock; Redis TIME shifted by the
 * test-only skew, which then runs on in real time: every instant here is mid-minute, far from
 * any tick, so the few milliseconds a test takes never cross one).
 */
export interface ContractStore { store: ScheduleStore, at: (ms: number) => Promise<void>, close: () => Promise<void> }

export const MINUTE = 60_000
/** A whole minute, 30 s into it. */
export const T0 = 1_800_000_000_000 - (1_800_000_000_000 % MINUTE) + 30_000
const RECOVER = { recoverMs: 5000 }

export function every (name: string, extra: Record<string, unknown> = {}): Schedule {
  return parseSchedule(name, { every: '1m', task: { name: 'work' }, ...extra }) as Schedule
}

export function storeContract (t: Test, make: () => Promise<ContractStore>): void {
  let store: ScheduleStore
  let at: (ms: number) => Promise<void>
  let close: () => Promise<void>
  const claim = async (name: string, now: number) => await store.claim(name, tickWindow(every(name), now), RECOVER)
  t.beforeEach(async () => { ({ store, at, close } = await make()) })
  t.afterEach(async () => { await close() })

  t.test('put is idempotent: created, then unchanged, then updated when the definition changes', async (t) => {
    t.equal(await store.put(every('a')), 'created')
    t.equal(await store.put(every('a')), 'unchanged')
    t.equal(await store.put(every('a', { on: 'every' })), 'updated')
    t.same((await store.get('a'))?.schedule, every('a', { on: 'every' }))
    await store.put(every('b'))
    t.same((await store.list()).map((s) => s.schedule.name), ['a', 'b'], 'listed by name')
    t.equal(await store.get('zzz'), undefined)
  })

  t.test('the first claim sets the baseline: a new schedule starts at its next tick', async (t) => {
    await store.put(every('a'))
    await at(T0)
    t.match(await claim('a', T0), { kind: 'baseline' })
    t.match(await claim('a', T0), { kind: 'idle' }, 'the same tick again is nothing to do')
    t.equal((await store.get('a'))?.lastTick, T0 - 30_000)
    await at(T0 + MINUTE)
    const c = await claim('a', T0 + MINUTE)
    t.match(c, { kind: 'claimed', tick: T0 + 30_000 })
    t.equal(c.kind === 'claimed' && c.previousTaskId, undefined, 'no previous task yet')
    t.ok(Math.abs(c.now - (T0 + MINUTE)) < 1000, 'the answer carries the store\'s clock')
    t.match(await claim('a', T0 + MINUTE), { kind: 'idle' })
  })

  t.test('a window that does not hold the store\'s now is refused with that now, early or late', async (t) => {
    await store.put(every('a'))
    await at(T0)
    const early = await store.claim('a', tickWindow(every('a'), T0 + MINUTE), RECOVER)
    t.match(early, { kind: 'window' })
    t.ok(Math.abs(early.now - T0) < 1000)
    t.match(await store.claim('a', tickWindow(every('a'), T0 - MINUTE), RECOVER), { kind: 'window' }, 'late')
    t.same(await store.get('a'), { schedule: every('a') }, 'nothing written')
  })

  t.test('a recorded tick hands its task id to the next claim (overlap checks) and is not pending', async (t) => {
    await store.put(every('a'))
    await at(T0); await claim('a', T0)
    await at(T0 + MINUTE)
    const c = await claim('a', T0 + MINUTE)
    await store.record('a', { tick: (c as { tick: number }).tick, at: c.now, result: 'run', taskId: 'task-1' })
    t.match((await store.get('a'))?.lastRun, { tick: T0 + 30_000, result: 'run', taskId: 'task-1' })
    await at(T0 + MINUTE + 10_000)
    t.match(await claim('a', T0 + MINUTE + 10_000), { kind: 'idle' }, 'recorded: nothing to recover')
    await at(T0 + 2 * MINUTE)
    t.match(await claim('a', T0 + 2 * MINUTE), { kind: 'claimed', tick: T0 + 90_000, previousTaskId: 'task-1' })
    await store.record('a', { tick: T0 + 90_000, at: T0 + 2 * MINUTE, result: 'skipped' })
    await at(T0 + 3 * MINUTE)
    t.match(await claim('a', T0 + 3 * MINUTE), { kind: 'claimed', previousTaskId: 'task-1' }, 'a skipped tick keeps the last task')
  })

  t.test('a tick claimed and never recorded (its node died) is handed out again once, after recoverMs', async (t) => {
    await store.put(every('a'))
    await at(T0); await claim('a', T0)
    await at(T0 + MINUTE)
    t.match(await claim('a', T0 + MINUTE), { kind: 'claimed', tick: T0 + 30_000 })
    await at(T0 + MINUTE + 1000)
    t.match(await claim('a', T0 + MINUTE + 1000), { kind: 'idle' }, 'not before recoverMs')
    await at(T0 + MINUTE + 6000)
    t.match(await claim('a', T0 + MINUTE + 6000), { kind: 'recover', tick: T0 + 30_000 })
    t.match(await claim('a', T0 + MINUTE + 6000), { kind: 'idle' }, 'to one claimer: the recovery restarts the wait')
    await store.record('a', { tick: T0 + 30_000, at: T0 + MINUTE + 6000, result: 'run', taskId: 't' })
    await at(T0 + MINUTE + 20_000)
    t.match(await claim('a', T0 + MINUTE + 20_000), { kind: 'idle' })
  })

  t.test('after a gap of 10 intervals only the newest tick is claimed, once', async (t) => {
    await store.put(every('a'))
    await at(T0); await claim('a', T0)
    await at(T0 + 10 * MINUTE)
    const claims = [await claim('a', T0 + 10 * MINUTE), await claim('a', T0 + 10 * MINUTE), await claim('a', T0 + 10 * MINUTE)]
    t.same(claims.map((c) => c.kind), ['claimed', 'idle', 'idle'])
    t.match(claims[0], { tick: T0 + 10 * MINUTE - 30_000 })
  })

  t.test('a new definition keeps the ticks; a deleted schedule is gone and can come back fresh', async (t) => {
    await store.put(every('a'))
    await at(T0); await claim('a', T0)
    await store.put(every('a', { overlap: 'allow' }))
    t.equal((await store.get('a'))?.lastTick, T0 - 30_000)
    t.equal(await store.delete('a'), true)
    t.equal(await store.delete('a'), false)
    t.equal(await store.get('a'), undefined)
    t.same(await store.list(), [])
    t.match(await claim('a', T0), { kind: 'gone' })
    await store.record('a', { tick: 1, at: 1, result: 'run' })
    t.equal(await store.get('a'), undefined, 'a late record does not bring it back')
    await store.put(every('a'))
    t.match(await claim('a', T0), { kind: 'baseline' })
  })

  t.test('now() is the store\'s clock', async (t) => {
    await at(T0)
    t.ok(Math.abs(await store.now() - T0) < 1000)
  })
}
