import t from 'tap'
import { atMost, withDeadline } from '../../shared/deadline.js'

t.test('the work first: its value, and no timer left behind', async (t) => {
  t.equal(await withDeadline(Promise.resolve(42), 10_000, 'late'), 42)
  await t.rejects(withDeadline(Promise.reject(new Error('own')), 10_000, 'late'), { message: 'own' }, 'its own failure passes through')
})

t.test('work that never settles: rejected with the message once the time is up', async (t) => {
  await t.rejects(withDeadline(new Promise(() => {}), 5, 'Redis did not answer'), { message: 'Redis did not answer' })
})

t.test('atMost: waits for the work, or for the time, and never fails', async (t) => {
  let done = false
  await atMost(new Promise<void>((resolve) => setImmediate(() => { done = true; resolve() })), 10_000)
  t.ok(done, 'the work finished first')
  await atMost(Promise.reject(new Error('failed')), 10_000)
  t.pass('a failure is swallowed')
  await atMost(new Promise(() => {}), 5)
  t.pass('work that never settles: back after the time')
})
