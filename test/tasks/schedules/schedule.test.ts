import t from 'tap'
import { parseSchedule, scheduleJson, type Schedule } from '../../../tasks/schedules/schedule.js'

t.test('an every schedule takes the defaults: one node, skip overlaps, catch up the latest tick', async (t) => {
  const s = parseSchedule('count-uploads', { every: '30s', task: { name: 'count-uploads' } })
  t.same(s, { name: 'count-uploads', every: 30_000, on: 'one', overlap: 'skip', catchUp: 'latest', task: { name: 'count-uploads' } })
})

t.test('a cron schedule keeps its expression, zone, payload and timeout', async (t) => {
  const s = parseSchedule('nightly', {
    cron: '30 2 * * *', tz: 'Europe/Paris', on: 'every', overlap: 'allow', catchUp: 'none',
    task: { name: 'report', payload: { kind: 'daily' }, timeout: '5m' }
  }) as Schedule
  t.same(s, { name: 'nightly', cron: '30 2 * * *', tz: 'Europe/Paris', on: 'every', overlap: 'allow', catchUp: 'none', task: { name: 'report', payload: { kind: 'daily' }, timeout: 300_000 } })
  t.same(scheduleJson(s), { cron: '30 2 * * *', tz: 'Europe/Paris', on: 'every', overlap: 'allow', catchUp: 'none', task: { name: 'report', payload: { kind: 'daily' }, timeout: '5m' } })
  t.same(parseSchedule('nightly', scheduleJson(s)), s, 'the JSON form reads back as the same schedule')
})

t.test('a six-field cron (seconds) is accepted', async (t) => {
  t.notOk(Array.isArray(parseSchedule('s', { cron: '*/10 * * * * *', task: { name: 'x' } })))
})

t.test('every bad field is named in one list of problems', async (t) => {
  const problems = parseSchedule('bad name!', {
    every: '5x', on: 'all', overlap: 'never', catchUp: 'all', extra: 1, task: { name: 'no spaces', timeout: '1 hour', retries: 3 }
  }) as string[]
  t.ok(Array.isArray(problems))
  for (const field of ['bad name!', '.extra: unknown field', '.every: expected a duration', '.on: expected one of "one", "every", got "all"',
    '.overlap: expected one of "skip", "allow"', '.catchUp: expected one of "latest", "none"', '.task.name: expected a task name',
    '.task.timeout: expected a duration', '.task.retries: unknown field']) {
    t.ok(problems.some((p) => p.includes(field)), `names ${field}: ${problems.join(' | ')}`)
  }
})

t.test('cron expressions and time zones are checked by croner', async (t) => {
  const minute = parseSchedule('s', { cron: '61 * * * *', task: { name: 'x' } }) as string[]
  t.match(minute.join(), /s\.cron: expected a cron expression .*Invalid value for minute: 61/)
  const parts = parseSchedule('s', { cron: '* * * *', task: { name: 'x' } }) as string[]
  t.match(parts.join(), /s\.cron: .*five, six, or seven/)
  const never = parseSchedule('s', { cron: '0 0 30 2 *', task: { name: 'x' } }) as string[]
  t.match(never.join(), /s\.cron: .*it never fires/)
  const zone = parseSchedule('s', { cron: '*/5 * * * *', tz: 'Mars/Base', task: { name: 'x' } }) as string[]
  t.match(zone.join(), /s\.tz: expected an IANA time zone such as "Europe\/Paris", got "Mars\/Base"/)
  const notText = parseSchedule('s', { cron: 5, tz: 7, task: { name: 'x' } }) as string[]
  t.match(notText.join(), /s\.cron: .*not text.*got 5/)
  t.match(notText.join(), /s\.tz: .*got 7/)
})

t.test('exactly one of every and cron; tz only with cron; every within bounds', async (t) => {
  t.match((parseSchedule('s', { task: { name: 'x' } }) as string[]).join(), /exactly one of "every" and "cron"/)
  t.match((parseSchedule('s', { every: '1m', cron: '* * * * *', task: { name: 'x' } }) as string[]).join(), /exactly one/)
  t.match((parseSchedule('s', { every: '1m', tz: 'UTC', task: { name: 'x' } }) as string[]).join(), /s\.tz: only with "cron"/)
  t.match((parseSchedule('s', { every: '50ms', task: { name: 'x' } }) as string[]).join(), /s\.every: expected a duration from 100ms to 366d .*got "50ms"/)
  t.match((parseSchedule('s', { every: '400d', task: { name: 'x' } }) as string[]).join(), /s\.every: .*got "400d"/)
  t.match((parseSchedule('s', { every: 30, task: { name: 'x' } }) as string[]).join(), /s\.every: .*got 30/)
})

t.test('the task must be an object with a name; a zero timeout is refused', async (t) => {
  t.match((parseSchedule('s', { every: '1m' }) as string[]).join(), /s\.task: expected an object/)
  t.match((parseSchedule('s', { every: '1m', task: ['x'] }) as string[]).join(), /s\.task: expected an object/)
  t.match((parseSchedule('s', { every: '1m', task: { name: 'x', timeout: '0' } }) as string[]).join(), /s\.task\.timeout/)
  t.match((parseSchedule('s', { every: '1m', task: { name: 'x', timeout: 30 } }) as string[]).join(), /s\.task\.timeout/)
})

t.test('a schedule that is not an object is one problem, with the value shown short', async (t) => {
  t.same(parseSchedule('s', 'every 5 minutes'), ['s: expected an object such as {"every":"30s","task":{"name":"…"}}, got "every 5 minutes"'])
  t.match((parseSchedule('s', null) as string[]).join(), /got null/)
  t.match((parseSchedule('s', [1]) as string[]).join(), /got \[1\]/)
  const long = parseSchedule('s', 'x'.repeat(200)) as string[]
  t.match(long[0], /got "x+\.\.\.$/)
  t.ok(long[0].length < 200)
  t.match((parseSchedule('s', { every: undefined, cron: undefined, task: { name: 'x' } }) as string[]).join(), /exactly one/)
})
