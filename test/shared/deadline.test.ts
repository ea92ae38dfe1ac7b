import t from 'tap'
import { withDeadline } from '../../shared/deadline.js'

t.test('the work first: its value, and no timer left behind', async (t) => {
  t.equal(await withDeadline(Promise.resolve(42), 10_000, 'late'), 42)
  await t.rejects(withDeadline(Promise.reject(new Error('own')), 10_000, 'late'), { message: 'own' }, 'its own failure passes through')
})

t.test('work that never settles: rejected with the message once the time is up', async (t) => {
  await t.rejects(withDeadline(new Promise(() => {}), 5, 'Redis did not answer'), { message: 'Redis did not answer' })
})
