import t from 'tap'
import { createSessionCache } from '../../../gateway/store/session-cache.js'
import { cacheStore } from '../../../gateway/store/cached.js'
import { createMemoryStore } from '../../../gateway/store/memory.js'
import { newSessionId } from '../../../gateway/session-cookie.js'
import { contractTimeouts } from './contract.js'
import type { JarChange } from '../../../gateway/jar.js'

const T0 = 1_800_000_000_000
const set = (name: string, value: string): JarChange => ({
  op: 'set', cookie: { name, value, domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default' }
})

/** The cached store over the memory store: what the cache adds, without Redis or pub/sub. */
function setup () {
  const inner = createMemoryStore(contractTimeouts)
  const cache = createSessionCache({ maxBytes: 1 << 20, touchEveryMs: contractTimeouts.touchEveryMs })
  cache.setLive(true)
  const counts = { hit: 0, miss: 0, announced: 0 }
  const store = cacheStore(inner, cache, {
    hit: () => { counts.hit++ },
    miss: () => { counts.miss++ },
    announced: async () => { counts.announced++ }
  })
  t.teardown(async () => await inner.close())
  return { inner, cache, counts, store }
}

t.test('a repeat read is answered from the cache', async (t) => {
  const { store, counts } = setup()
  const id = newSessionId()
  await store.apply(id, { changes: [set('a', '1')], create: true }, T0)
  t.equal((await store.load(id, T0 + 1))?.cookies[0].value, '1')
  t.equal((await store.load(id, T0 + 2))?.cookies[0].value, '1')
  t.same([counts.miss, counts.hit], [1, 1])
})

t.test('this node\'s own write is read back at once, and announced before it resolves', async (t) => {
  const { store, counts } = setup()
  const id = newSessionId()
  await store.apply(id, { changes: [set('a', '1')], create: true }, T0)
  await store.load(id, T0 + 1)
  const before = counts.announced
  await store.apply(id, { changes: [set('a', '2')], create: false }, T0 + 2)
  t.equal(counts.announced, before + 1, 'the write waited for its invalidation to be sent')
  t.equal((await store.load(id, T0 + 3))?.cookies[0].value, '2', 'no message needed on the writing node')
})

t.test('a write that lands on the regenerated id drops both ids', async (t) => {
  const { store, cache } = setup()
  const [oldId, newId] = [newSessionId(), newSessionId()]
  await store.apply(oldId, { changes: [set('a', '1')], create: true }, T0)
  await store.regenerate(oldId, newId, T0 + 1)
  await store.load(newId, T0 + 2)
  t.ok(cache.get(newId, T0 + 2), 'the new id is cached')
  const r = await store.apply(oldId, { changes: [set('b', '2')], create: false }, T0 + 3)
  t.match(r, { status: 'applied', id: newId })
  t.equal(cache.get(newId, T0 + 3), undefined)
  t.equal((await store.load(newId, T0 + 4))?.cookies.length, 2)
})

t.test('destroy and log-out-everywhere end cached sessions on this node at once', async (t) => {
  const { store } = setup()
  const [one, two] = [newSessionId(), newSessionId()]
  await store.apply(one, { changes: [set('a', '1')], create: true, user: 'u' }, T0)
  await store.apply(two, { changes: [set('a', '1')], create: true, user: 'u' }, T0)
  await store.load(one, T0 + 1)
  await store.load(two, T0 + 1)
  await store.destroy(one)
  t.equal(await store.load(one, T0 + 2), undefined)
  t.equal(await store.destroyUser('u', T0 + 2), 1)
  t.equal(await store.load(two, T0 + 3), undefined)
})

t.test('a failed write drops the session here but waits for no announcement', async (t) => {
  const { inner, cache, counts } = setup()
  const id = newSessionId()
  const failing = cacheStore({ ...inner, apply: async () => { throw new Error('redis gone') } }, cache, {
    hit () {}, miss () {}, announced: async () => { counts.announced++ }
  })
  await inner.apply(id, { changes: [set('a', '1')], create: true }, T0)
  await failing.load(id, T0 + 1)
  t.ok(cache.get(id, T0 + 1), 'cached')
  await t.rejects(failing.apply(id, { changes: [set('a', '2')], create: false }, T0 + 2), /redis gone/)
  t.equal(cache.get(id, T0 + 2), undefined, 'the write may have happened: dropped')
  t.equal(counts.announced, 0)
})

t.test('a failed read is shared by the requests that joined it, and the next request reads again', async (t) => {
  const { inner, cache } = setup()
  const id = newSessionId()
  await inner.apply(id, { changes: [set('a', '1')], create: true }, T0)
  let reads = 0
  let fail = true
  const store = cacheStore({ ...inner, load: async (i, now) => { reads++; if (fail) throw new Error('redis gone'); return await inner.load(i, now) } }, cache, {
    hit () {}, miss () {}, announced: async () => {}
  })
  const results = await Promise.allSettled(Array.from({ length: 5 }, async () => await store.load(id, T0 + 1)))
  t.same(results.map((r) => r.status), Array(5).fill('rejected'))
  t.equal(reads, 1)
  fail = false
  t.equal((await store.load(id, T0 + 2))?.cookies[0].value, '1')
  t.equal(reads, 2)
})
