import t from 'tap'
import { createSessionCache } from '../../../gateway/store/session-cache.js'
import type { SessionRecord } from '../../../gateway/store/store.js'

const T0 = 1_800_000_000_000
const TOUCH = 1_000

function session (id: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return { id, created: T0, lastSeen: T0, absoluteExpiry: T0 + 3_600_000, user: undefined, movedTo: undefined, retiredAt: 0, rotatedAt: 0, cookies: [], ...extra }
}

function liveCache (maxBytes = 1 << 20) {
  const cache = createSessionCache({ maxBytes, touchEveryMs: TOUCH })
  cache.setLive(true)
  return cache
}

t.test('a kept session answers until its last-seen time is touchEveryMs old', async (t) => {
  const cache = liveCache()
  cache.put(session('a'), cache.ticket())
  t.equal(cache.get('a', T0 + TOUCH - 1)?.id, 'a')
  t.equal(cache.get('a', T0 + TOUCH), undefined, 'then the store must record a new last-seen time')
  t.equal(cache.get('a', T0), undefined, 'and the stale entry is gone')
})

t.test('never past the absolute expiry', async (t) => {
  const cache = liveCache()
  cache.put(session('a', { absoluteExpiry: T0 + 10 }), cache.ticket())
  t.ok(cache.get('a', T0 + 9))
  t.equal(cache.get('a', T0 + 10), undefined)
})

t.test('a drop, or a clear, ends the entry', async (t) => {
  const cache = liveCache()
  cache.put(session('a'), cache.ticket())
  cache.put(session('b'), cache.ticket())
  cache.drop('a')
  t.equal(cache.get('a', T0), undefined)
  t.ok(cache.get('b', T0), 'other sessions stay')
  cache.clear()
  t.equal(cache.get('b', T0), undefined)
})

t.test('a read that was in flight across a drop is not kept', async (t) => {
  const cache = liveCache()
  const ticket = cache.ticket()
  cache.drop('other')
  cache.put(session('a'), ticket)
  t.equal(cache.get('a', T0), undefined, 'the read may hold what was dropped')
  cache.put(session('a'), cache.ticket())
  t.ok(cache.get('a', T0), 'a read started after it is kept')
})

t.test('answers nothing, and keeps nothing, while invalidations are not arriving', async (t) => {
  const cache = createSessionCache({ maxBytes: 1 << 20, touchEveryMs: TOUCH })
  t.equal(cache.live, false, 'off until subscribed')
  cache.put(session('a'), cache.ticket())
  t.equal(cache.get('a', T0), undefined)
  cache.setLive(true)
  cache.put(session('a'), cache.ticket())
  t.ok(cache.get('a', T0))
  cache.setLive(false)
  t.equal(cache.get('a', T0), undefined)
  cache.setLive(true)
  t.equal(cache.get('a', T0), undefined, 'what was kept before the subscription dropped is gone')
})

t.test('a regenerated id (grace period only) is not kept', async (t) => {
  const cache = liveCache()
  cache.put(session('a', { movedTo: 'b' }), cache.ticket())
  t.equal(cache.get('a', T0), undefined)
})

t.test('the byte bound evicts the least recently used sessions', async (t) => {
  const big = (id: string): SessionRecord => session(id, { cookies: [{ name: 'n', value: 'x'.repeat(1000), domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default' }] })
  const cache = liveCache(4_000)
  for (const id of ['a', 'b', 'c']) cache.put(big(id), cache.ticket())
  t.ok(cache.get('a', T0), 'a used: b is now the least recent')
  cache.put(big('d'), cache.ticket())
  t.equal(cache.get('b', T0), undefined)
  t.ok(cache.get('a', T0))
  t.ok(cache.bytes <= 4_000, `${cache.bytes} bytes held`)
})
