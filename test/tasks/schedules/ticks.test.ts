import t from 'tap'
import { parseSchedule, type Schedule } from '../../../tasks/schedules/schedule.js'
import { tickWindow } from '../../../tasks/schedules/ticks.js'

const schedule = (raw: Record<string, unknown>): Schedule => parseSchedule('s', { task: { name: 'x' }, ...raw }) as Schedule
const at = (iso: string): number => Date.parse(iso)
const iso = (ms: number): string => new Date(ms).toISOString()
const window = (s: Schedule, when: string) => { const w = tickWindow(s, at(when)); return { due: iso(w.due), next: iso(w.next) } }

t.test('every: ticks are multiples of the interval since the epoch, the same on every node', async (t) => {
  const s = schedule({ every: '30s' })
  t.same(window(s, '2026-11-29T12:00:44.999Z'), { due: '2026-11-29T12:00:30.000Z', next: '2026-11-29T12:01:00.000Z' })
  t.same(window(s, '2026-11-29T12:01:00.000Z'), { due: '2026-11-29T12:01:00.000Z', next: '2026-11-29T12:01:30.000Z' }, 'a tick is due at its own instant')
  const odd = schedule({ every: '7s' })
  const w = tickWindow(odd, at('2026-11-29T12:00:00.000Z'))
  t.equal(w.due % 7000, 0)
  t.equal(w.next - w.due, 7000)
  t.same(tickWindow(schedule({ every: '200ms' }), 1_000_000_250), { due: 1_000_000_200, next: 1_000_000_400 })
})

t.test('cron: the newest run not after now, and the next one, in UTC by default', async (t) => {
  const s = schedule({ cron: '*/5 * * * *' })
  t.same(window(s, '2026-11-29T12:07:10.000Z'), { due: '2026-11-29T12:05:00.000Z', next: '2026-11-29T12:10:00.000Z' })
  t.same(window(s, '2026-11-29T12:10:00.000Z'), { due: '2026-11-29T12:10:00.000Z', next: '2026-11-29T12:15:00.000Z' }, 'a run at now is due')
  t.same(window(s, '2026-11-29T12:10:00.900Z'), { due: '2026-11-29T12:10:00.000Z', next: '2026-11-29T12:15:00.000Z' }, 'and stays due within its second')
  const seconds = schedule({ cron: '*/10 * * * * *' })
  t.same(window(seconds, '2026-11-29T12:00:15.000Z'), { due: '2026-11-29T12:00:10.000Z', next: '2026-11-29T12:00:20.000Z' })
})

t.test('cron with a zone: the local time, whatever the UTC offset', async (t) => {
  const s = schedule({ cron: '0 9 * * *', tz: 'Europe/Paris' })
  t.same(window(s, '2026-01-15T12:00:00Z'), { due: '2026-01-15T08:00:00.000Z', next: '2026-01-16T08:00:00.000Z' }, 'CET is UTC+1')
  t.same(window(s, '2026-07-15T12:00:00Z'), { due: '2026-07-15T07:00:00.000Z', next: '2026-07-16T07:00:00.000Z' }, 'CEST is UTC+2')
  const ny = schedule({ cron: '0 9 * * *', tz: 'America/New_York' })
  t.same(window(ny, '2026-01-15T20:00:00Z'), { due: '2026-01-15T14:00:00.000Z', next: '2026-01-16T14:00:00.000Z' })
})

t.test('DST spring forward (Paris, 29 March 2026, 02:00 → 03:00): a fixed time in the gap runs once, after it', async (t) => {
  const s = schedule({ cron: '30 2 * * *', tz: 'Europe/Paris' })
  // 02:30 does not exist that night: croner runs it at the first valid time, 03:00 CEST = 01:00Z.
  t.same(window(s, '2026-03-28T12:00:00Z'), { due: '2026-03-28T01:30:00.000Z', next: '2026-03-29T01:00:00.000Z' })
  t.same(window(s, '2026-03-29T01:00:00Z'), { due: '2026-03-29T01:00:00.000Z', next: '2026-03-30T00:30:00.000Z' })
  // An interval expression skips the missing hour: 01:30 CET (00:30Z) is followed by 03:00 CEST (01:00Z).
  const half = schedule({ cron: '*/30 * * * *', tz: 'Europe/Paris' })
  t.same(window(half, '2026-03-29T00:45:00Z'), { due: '2026-03-29T00:30:00.000Z', next: '2026-03-29T01:00:00.000Z' })
  t.same(window(half, '2026-03-29T01:00:00Z'), { due: '2026-03-29T01:00:00.000Z', next: '2026-03-29T01:30:00.000Z' })
})

t.test('DST fall back (Paris, 25 October 2026, 03:00 → 02:00): a fixed time runs once, an interval on both passes', async (t) => {
  const s = schedule({ cron: '30 2 * * *', tz: 'Europe/Paris' })
  // 02:30 happens twice (00:30Z CEST and 01:30Z CET): one tick, the first.
  t.same(window(s, '2026-10-25T00:45:00Z'), { due: '2026-10-25T00:30:00.000Z', next: '2026-10-26T01:30:00.000Z' })
  t.same(window(s, '2026-10-25T01:45:00Z'), { due: '2026-10-25T00:30:00.000Z', next: '2026-10-26T01:30:00.000Z' })
  const half = schedule({ cron: '*/30 2 * * *', tz: 'Europe/Paris' })
  const ticks: string[] = []
  for (let m = at('2026-10-24T23:59:00Z'); m < at('2026-10-25T02:01:00Z'); m += 60_000) {
    const { due } = window(half, iso(m))
    if (ticks.at(-1) !== due) ticks.push(due)
  }
  t.same(ticks.slice(1), ['2026-10-25T00:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T01:30:00.000Z'],
    'the ticks are distinct instants: each names one run, even where the local times repeat')
})
