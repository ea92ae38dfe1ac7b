import { Registry } from 'prom-client'
import t from 'tap'
import { PodsideError } from '../../../shared/errors.js'
import { createScheduleMetrics } from '../../../tasks/schedules/metrics.js'
import { parseSchedule, type Schedule } from '../../../tasks/schedules/schedule.js'
import { createMemoryScheduleStore } from '../../../tasks/schedules/schedule-store-memory.js'
import { createScheduler } from '../../../tasks/schedules/scheduler.js'
import { tickTaskId } from '../../../tasks/schedules/task-queue-port.js'
import { capturingLogger, silentLogger } from '../../helpers/log.js'
import { recordingQueue } from './fake-queue.js'

const SEC = 1000
/** A whole minute: tick arithmetic below reads from it. */
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000)

function schedule (name: string, raw: Record<string, unknown>): Schedule {
  return parseSchedule(name, { task: { name: 'work' }, ...raw }) as Schedule
}

/** One node (or several sharing one store) on an injected clock. */
function setup (opts: { nodes?: number } = {}) {
  let now = T0
  const clock = () => now
  const store = createMemoryScheduleStore(clock)
  const q = recordingQueue()
  const registry = new Registry()
  const metrics = createScheduleMetrics(registry)
  const { log, lines } = capturingLogger()
  const nodes = Array.from({ length: opts.nodes ?? 1 }, () => createScheduler({ store, queue: q.queue, log, metrics, now: clock }))
  return {
    store, q, registry, lines, nodes, node: nodes[0],
    at (ms: number) { now = ms },
    async pollAll () { for (const n of nodes) await n.poll() },
    async count (name: string, result: string) {
      const m = (await registry.getSingleMetric('podside_schedule_runs_total')?.get())?.values.find((v) => v.labels.schedule === name && v.labels.result === result)
      return m?.value ?? 0
    }
  }
}

t.test('every 10s on one node: one task per tick, keyed by the tick, scheduled for the tick time', async (t) => {
  const s = setup({ nodes: 3 })
  await s.store.put(schedule('count', { every: '10s', overlap: 'allow', task: { name: 'count-uploads', payload: { a: 1 }, timeout: '30s' } }))
  await s.pollAll() // baseline
  t.equal(s.q.added.length, 0, 'a new schedule starts at its next tick')
  for (let i = 1; i <= 5; i++) {
    s.at(T0 + i * 10 * SEC + 3)
    await s.pollAll()
    await s.pollAll()
  }
  t.equal(s.q.added.length, 5, 'one task per tick across 3 nodes polling twice each')
  t.same(s.q.added[0], {
    id: tickTaskId('count', T0 + 10 * SEC), name: 'count-uploads', payload: '{"a":1}', timeoutMs: 30_000, key: `schedule:count:${T0 + 10 * SEC}`,
    on: 'any', scheduledFor: new Date(T0 + 10 * SEC).toISOString(), schedule: 'count'
  })
  t.same(new Set(s.q.added.map((a) => a.scheduledFor)).size, 5, 'every tick once')
  t.equal(await s.count('count', 'run'), 5)
  const gauge = (await s.registry.getSingleMetric('podside_schedule_last_run_timestamp_seconds')?.get())?.values[0]
  t.equal(gauge?.value, (T0 + 50 * SEC + 3) / 1000, 'the last run\'s time, in seconds')
  t.match((await s.store.get('count'))?.lastRun, { tick: T0 + 50 * SEC, result: 'run', taskId: tickTaskId('count', T0 + 50 * SEC) })
  t.not(tickTaskId('count', T0), tickTaskId('other', T0), 'ids differ by schedule')
})

t.test('on: every enqueues one task per tick for every node', async (t) => {
  const s = setup()
  await s.store.put(schedule('fan', { every: '1m', on: 'every' }))
  await s.node.poll()
  s.at(T0 + 60 * SEC)
  await s.node.poll()
  t.match(s.q.added, [{ on: 'every', schedule: 'fan' }])
})

t.test('overlap skip: no tick starts while the previous run is unfinished; counted as skipped', async (t) => {
  const s = setup()
  await s.store.put(schedule('slow', { every: '10s' }))
  await s.node.poll()
  s.at(T0 + 10 * SEC); await s.node.poll()
  const first = tickTaskId('slow', T0 + 10 * SEC)
  s.q.setState(first, 'running')
  s.at(T0 + 20 * SEC); await s.node.poll()
  s.q.setState(first, 'queued')
  s.at(T0 + 30 * SEC); await s.node.poll()
  t.equal(s.q.added.length, 1, 'two ticks skipped')
  t.equal(await s.count('slow', 'skipped'), 2)
  s.q.setState(first, 'dead')
  s.at(T0 + 40 * SEC); await s.node.poll()
  t.equal(s.q.added.length, 2, 'a finished run (even dead) lets the next tick start')
  t.match((await s.store.get('slow'))?.lastRun, { result: 'run', taskId: tickTaskId('slow', T0 + 40 * SEC) })
})

t.test('overlap allow: ticks start whatever the previous run does', async (t) => {
  const s = setup()
  await s.store.put(schedule('fast', { every: '10s', overlap: 'allow' }))
  await s.node.poll()
  s.at(T0 + 10 * SEC); await s.node.poll()
  s.q.setState(tickTaskId('fast', T0 + 10 * SEC), 'running')
  s.at(T0 + 20 * SEC); await s.node.poll()
  t.equal(s.q.added.length, 2)
})

t.test('catchUp latest: after 10 intervals with no node up, the newest missed tick runs once', async (t) => {
  const s = setup({ nodes: 2 })
  await s.store.put(schedule('c', { every: '1m', catchUp: 'latest', overlap: 'allow' }))
  await s.pollAll()
  s.at(T0 + 60 * SEC + 100); await s.pollAll()
  t.equal(s.q.added.length, 1)
  s.at(T0 + 11 * 60 * SEC + 40 * SEC) // ten ticks later, 40 s into the interval: late
  await s.pollAll(); await s.pollAll()
  t.equal(s.q.added.length, 2, 'exactly one catch-up run')
  t.equal(s.q.added[1].scheduledFor, new Date(T0 + 11 * 60 * SEC).toISOString(), 'the newest missed tick')
  t.equal(await s.count('c', 'caught_up'), 1)
  s.at(T0 + 12 * 60 * SEC + 100); await s.pollAll()
  t.equal(s.q.added.length, 3, 'then on time again')
  t.equal(await s.count('c', 'run'), 2)
})

t.test('catchUp none: after 10 intervals with no node up, nothing runs for them; the next tick does', async (t) => {
  const s = setup({ nodes: 2 })
  await s.store.put(schedule('c', { every: '1m', catchUp: 'none', overlap: 'allow' }))
  await s.pollAll()
  s.at(T0 + 11 * 60 * SEC + 40 * SEC)
  await s.pollAll(); await s.pollAll()
  t.equal(s.q.added.length, 0, 'zero catch-up runs')
  t.equal(await s.count('c', 'missed'), 1)
  t.match((await s.store.get('c'))?.lastRun, { result: 'missed' })
  s.at(T0 + 12 * 60 * SEC + 100); await s.pollAll()
  t.equal(s.q.added.length, 1)
})

t.test('a tick claimed by a node that died before enqueuing is enqueued by another after recoverMs, with the same key', async (t) => {
  const s = setup({ nodes: 2 })
  const [a, b] = s.nodes
  await s.store.put(schedule('r', { every: '1m', overlap: 'allow' }))
  await a.poll(); await b.poll()
  s.q.fail(new Error('connection lost'))
  s.at(T0 + 60 * SEC); await a.poll()
  t.equal(s.q.added.length, 0)
  t.equal(await s.count('r', 'failed'), 1)
  t.match(s.lines.find((l) => l.msg === 'schedule: the tick\'s task could not be enqueued'), { schedule: 'r' })
  s.q.fail(undefined)
  s.at(T0 + 62 * SEC); await b.poll()
  t.equal(s.q.added.length, 0, 'not before recoverMs')
  s.at(T0 + 66 * SEC); await b.poll()
  t.equal(s.q.added.length, 1, 'recovered')
  t.equal(s.q.added[0].key, `schedule:r:${T0 + 60 * SEC}`)
  t.match(s.lines.find((l) => l.msg === 'schedule tick' && l.recovered === true), { schedule: 'r' })
  s.at(T0 + 75 * SEC); await a.poll(); await b.poll()
  t.equal(s.q.added.length, 1, 'recovered once')
})

t.test('a node that died after adding the tick\'s task but before recording it: the recovery finds the task, adds none', async (t) => {
  const s = setup({ nodes: 2 })
  const [a, b] = s.nodes
  await s.store.put(schedule('r', { every: '1m', overlap: 'allow' }))
  await a.poll(); await b.poll()
  const record = s.store.record
  s.store.record = async () => { throw new Error('died before recording') }
  s.at(T0 + 60 * SEC)
  await a.poll() // adds, then fails to record: as if it died there
  s.store.record = record
  t.equal(s.q.added.length, 1)
  s.q.setState(s.q.added[0].id, 'done') // finished before the recovery: its key is free again
  s.at(T0 + 66 * SEC); await b.poll()
  t.equal(s.q.added.length, 1, 'not added again')
  t.match((await s.store.get('r'))?.lastRun, { tick: T0 + 60 * SEC, result: 'run', taskId: tickTaskId('r', T0 + 60 * SEC) })
  s.at(T0 + 80 * SEC); await a.poll(); await b.poll()
  t.equal(s.q.added.length, 1, 'and recovered once')
})

t.test('a task the queue refuses (4xx) is recorded as failed, not retried forever', async (t) => {
  const s = setup()
  await s.store.put(schedule('bad', { every: '1m' }))
  await s.node.poll()
  s.q.fail(new PodsideError('TASK_ERR_BAD_REQUEST', 'payload too large', 413))
  s.at(T0 + 60 * SEC); await s.node.poll()
  t.match((await s.store.get('bad'))?.lastRun, { result: 'failed' })
  s.q.fail(undefined)
  s.at(T0 + 70 * SEC); await s.node.poll()
  t.equal(s.q.added.length, 0, 'no recovery of a refused task')
  t.equal(await s.count('bad', 'failed'), 1)
})

t.test('cron in a zone: ticks at the local time', async (t) => {
  const s = setup()
  await s.store.put(schedule('paris', { cron: '0 9 * * *', tz: 'Europe/Paris' }))
  const nineParis = Date.parse('2027-01-15T08:00:00Z')
  s.at(nineParis - 3600_000); await s.node.poll()
  s.at(nineParis + 50); await s.node.poll()
  t.match(s.q.added, [{ scheduledFor: '2027-01-15T08:00:00.000Z', key: `schedule:paris:${nineParis}` }])
})

t.test('trigger enqueues now, whatever the ticks, and records it; unknown schedule: undefined', async (t) => {
  const s = setup()
  await s.store.put(schedule('m', { every: '1h', on: 'every', task: { name: 'work', payload: 7, timeout: '1s' } }))
  s.at(T0 + 1234)
  t.same(await s.node.trigger('m'), { id: 'task-1', state: 'queued' })
  t.match(s.q.added[0], { name: 'work', payload: '7', timeoutMs: 1000, on: 'every', scheduledFor: new Date(T0 + 1234).toISOString(), schedule: 'm' })
  t.notOk('key' in s.q.added[0], 'a manual run is not deduplicated against ticks')
  t.match((await s.store.get('m'))?.lastRun, { result: 'triggered', taskId: 'task-1' })
  t.equal(await s.count('m', 'triggered'), 1)
  t.equal(await s.node.trigger('nope'), undefined)
})

t.test('a deleted schedule is forgotten by every node, its series too', async (t) => {
  const s = setup()
  await s.store.put(schedule('gone', { every: '10s' }))
  await s.node.poll()
  s.at(T0 + 10 * SEC); await s.node.poll()
  t.equal(await s.count('gone', 'run'), 1)
  await s.store.delete('gone')
  s.at(T0 + 20 * SEC); await s.node.poll()
  t.equal(s.q.added.length, 1)
  t.equal(await s.count('gone', 'run'), 0, 'the series is removed')
})

t.test('a schedule deleted between two list refreshes is dropped at its claim', async (t) => {
  const s = setup()
  await s.store.put(schedule('x', { every: '10s' }))
  await s.node.poll()
  await s.store.delete('x')
  s.at(T0 + 10 * SEC + 10) // within refreshMs of the last list: the claim finds it gone
  await s.node.poll()
  t.equal(s.q.added.length, 0)
})

t.test('the loop runs on timers: start, a tick, stop waits for the pass under way', async (t) => {
  const store = createMemoryScheduleStore(Date.now)
  const q = recordingQueue()
  const node = createScheduler({ store, queue: q.queue, log: silentLogger(), metrics: createScheduleMetrics(new Registry()), now: Date.now })
  await store.put(schedule('loop', { every: '100ms', overlap: 'allow' }))
  node.start()
  node.start() // twice is once
  const deadline = Date.now() + 5000
  while (q.added.length < 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  await node.stop()
  t.ok(q.added.length >= 2, `ran ${q.added.length} ticks`)
  t.equal(new Set(q.added.map((a) => a.key)).size, q.added.length, 'never a tick twice')
  const after = q.added.length
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(q.added.length, after, 'nothing after stop')
})

t.test('the loop keeps going when the store fails, without spinning', async (t) => {
  let calls = 0
  const store = createMemoryScheduleStore(Date.now)
  const failing = { ...store, list: async () => { calls++; throw new Error('redis away') } }
  const { log, lines } = capturingLogger('warn')
  const node = createScheduler({ store: failing, queue: recordingQueue().queue, log, metrics: createScheduleMetrics(new Registry()), now: Date.now })
  node.start()
  const deadline = Date.now() + 3000
  while (calls < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  await node.stop()
  t.ok(calls >= 3 && calls < 20, `retried ${calls} times in about 0.5 s, not in a tight loop`)
  t.ok(lines.some((l) => l.msg === 'schedule: cannot read the schedules (Redis unreachable?); trying again'))
})

t.test('a claim that fails is logged and tried again soon', async (t) => {
  const s = setup()
  await s.store.put(schedule('x', { every: '10s' }))
  const failing = { ...s.store, claim: async () => { throw new Error('redis away') } }
  const { log, lines } = capturingLogger('warn')
  const node = createScheduler({ store: failing, queue: s.q.queue, log, metrics: createScheduleMetrics(new Registry()), now: () => T0 })
  await node.poll()
  t.ok(lines.some((l) => l.msg === 'schedule: claim failed (Redis unreachable?); trying again' && l.schedule === 'x'))
})
