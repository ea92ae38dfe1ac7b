import t from 'tap'
import { InflightList } from '../../shared/inflight-list.js'

t.test('iterates exactly the items added and not yet deleted, newest first', async (t) => {
  const list = new InflightList<string>()
  const a = list.add('a')
  const b = list.add('b')
  const c = list.add('c')
  t.same([...list], ['c', 'b', 'a'])
  list.delete(b)
  t.same([...list], ['c', 'a'], 'from the middle')
  list.delete(c)
  t.same([...list], ['a'], 'the newest')
  list.add('d')
  list.delete(a)
  t.same([...list], ['d'], 'the oldest')
})

t.test('deleting twice changes nothing', async (t) => {
  const list = new InflightList<number>()
  const one = list.add(1)
  list.add(2)
  list.delete(one)
  list.delete(one)
  t.same([...list], [2])
})

// The bug this replaced: a Set of responses, whose rehashed tables kept finished responses alive
// through minor GCs (measured in docs/performance.md; no GC timing is asserted here).
t.test('regression: a deleted entry keeps no link to the others', async (t) => {
  const list = new InflightList<number>()
  list.add(1)
  const two = list.add(2)
  list.add(3)
  list.delete(two)
  t.equal(two.prev, undefined)
  t.equal(two.next, undefined)
  t.same([...list], [3, 1])
})

t.test('an empty list iterates nothing, and fills again after emptying', async (t) => {
  const list = new InflightList<number>()
  t.same([...list], [])
  list.delete(list.add(1))
  t.same([...list], [])
  list.add(2)
  t.same([...list], [2])
})
