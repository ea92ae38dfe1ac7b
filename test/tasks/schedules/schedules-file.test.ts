import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readSchedulesFile } from '../../../tasks/schedules/schedules-file.js'

const dir = mkdtempSync(join(tmpdir(), 'podside-schedules-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }

t.test('a YAML file of schedules', async (t) => {
  const p = file('ok.yaml', [
    'schedules:',
    '  count-uploads:',
    '    every: 10s',
    '    task: { name: count-uploads }',
    '  nightly:',
    '    cron: "30 2 * * *"',
    '    tz: Europe/Paris',
    '    on: every',
    '    task:',
    '      name: report',
    '      payload: { kind: daily }',
    '      timeout: 5m',
    ''
  ].join('\n'))
  t.match(readSchedulesFile(p), [
    { name: 'count-uploads', every: 10_000, on: 'one' },
    { name: 'nightly', cron: '30 2 * * *', tz: 'Europe/Paris', on: 'every', task: { name: 'report', payload: { kind: 'daily' }, timeout: 300_000 } }
  ])
})

t.test('a JSON file reads the same', async (t) => {
  const p = file('ok.json', JSON.stringify({ schedules: { a: { every: '1m', task: { name: 'w' } } } }))
  t.match(readSchedulesFile(p), [{ name: 'a', every: 60_000 }])
})

t.test('every problem in the file, each naming the file and the field', async (t) => {
  const p = file('bad.yaml', 'schedules:\n  a: { every: 5x, task: { name: w } }\n  b: { cron: "61 * * * *", task: {} }\nextra: 1\n')
  const problems = readSchedulesFile(p) as string[]
  t.same(problems.length, 4, problems.join('\n'))
  t.ok(problems.every((x) => x.startsWith(`--schedules ${p}: `)))
  t.match(problems.join('\n'), /extra: unknown field/)
  t.match(problems.join('\n'), /schedules\.a\.every: expected a duration/)
  t.match(problems.join('\n'), /schedules\.b\.cron: expected a cron expression/)
  t.match(problems.join('\n'), /schedules\.b\.task\.name: expected a task name/)
})

t.test('a file that is missing, not YAML, or not a mapping of schedules', async (t) => {
  t.match(readSchedulesFile(join(dir, 'none.yaml')), [/cannot read the file: ENOENT/])
  t.match(readSchedulesFile(file('broken.yaml', 'schedules: [\n')), [/not YAML or JSON/])
  t.match(readSchedulesFile(file('dup.yaml', 'schedules:\n  a: {}\n  a: {}\n')), [/not YAML or JSON/], 'a name twice is an error, not the last one silently')
  t.match(readSchedulesFile(file('list.yaml', '- a\n')), [/expected a mapping "schedules:"/])
  t.match(readSchedulesFile(file('empty.yaml', '')), [/expected a mapping "schedules:"/])
  t.match(readSchedulesFile(file('nolist.yaml', 'schedules: 3\n')), [/expected a mapping "schedules:"/])
})
