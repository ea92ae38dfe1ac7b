import t from 'tap'
import { validateTask } from '../../tasks/validate-task.js'

t.test('a full task is read with its units', async (t) => {
  t.same(validateTask({ name: 'mail.send_v2~x-y', payload: { to: 'a' }, key: 'k', delay: '30s', timeout: 1500, maxAttempts: 3, on: 'every' }), {
    task: { name: 'mail.send_v2~x-y', payload: '{"to":"a"}', key: 'k', delayMs: 30_000, timeoutMs: 1500, maxAttempts: 3, on: 'every' }
  })
  t.same(validateTask({ name: 'a', at: '2026-01-02T03:04:05.5+01:00' }), { task: { name: 'a', at: Date.parse('2026-01-02T03:04:05.5+01:00') } })
  t.same(validateTask({ name: 'a', at: 1_800_000_000_000, payload: null }), { task: { name: 'a', at: 1_800_000_000_000, payload: 'null' } })
  t.same(validateTask({ name: 'a', delay: 0, timeout: '2m' }), { task: { name: 'a', delayMs: 0, timeoutMs: 120_000 } })
})

t.test('every problem is named', async (t) => {
  const r = validateTask({ name: 7, key: 'a\nb', delay: -1, timeout: '0', maxAttempts: 1.5, on: 'some', at: 12.5, extra: 1 })
  t.ok('problems' in r)
  const fields = 'problems' in r ? r.problems.map((p) => p.field).sort() : []
  t.same(fields, ['at', 'at', 'delay', 'extra', 'key', 'maxAttempts', 'name', 'on', 'timeout'])
  t.same(validateTask('x'), { problems: [{ field: 'body', problem: 'expected a JSON object' }] })
  t.same(validateTask(null), { problems: [{ field: 'body', problem: 'expected a JSON object' }] })
  t.match(validateTask({ name: 'x'.repeat(129) }), { problems: [{ field: 'name' }] })
  t.match(validateTask({ name: 'a', key: 'k'.repeat(257) }), { problems: [{ field: 'key' }] })
  t.match(validateTask({ name: 'a', maxAttempts: 1001 }), { problems: [{ field: 'maxAttempts' }] })
  t.match(validateTask({ name: 'a', at: '2026-01-02 03:04' }), { problems: [{ field: 'at' }] })
  t.match(validateTask({ name: 'a', delay: true }), { problems: [{ field: 'delay' }] })
})
