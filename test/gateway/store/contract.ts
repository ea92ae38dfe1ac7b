import type { Test } from 'tap'
import type { JarChange, JarCookie } from '../../../gateway/jar.js'
import type { SessionStore, StoreTimeouts } from '../../../gateway/store/store.js'
import { newSessionId } from '../../../gateway/session-cookie.js'

/**
 * One behaviour contract for every session store (the shape of oauth2-proxy's
 * RunSessionStoreTests): the memory store and the Redis store (standalone and Cluster) run it.
 * Time is passed in, never waited for.
 */
export const contractTimeouts: StoreTimeouts = { idleMs: 60_000, absoluteMs: 3_600_000, graceMs: 10_000, maxCookies: 60, touchEveryMs: 1_000 }

const T0 = 1_800_000_000_000

function cookie (name: string, value: string, extra: Partial<JarCookie> = {}): JarCookie {
  return { name, value, domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default', ...extra }
}
const set = (c: JarCookie): JarChange => ({ op: 'set', cookie: c })

export function storeContract (t: Test, make: () => Promise<SessionStore>): void {
  let store: SessionStore
  t.beforeEach(async () => { store = await make() })
  t.afterEach(async () => { await store.close() })

  t.test('an unknown id loads as no session', async (t) => {
    t.equal(await store.load(newSessionId(), T0), undefined)
  })

  t.test('apply with create makes a session whose jar loads back verbatim', async (t) => {
    const id = newSessionId()
    const value = '"quoted value"/with=odd;chars\u00e9'
    const r = await store.apply(id, { changes: [set(cookie('sid', value, { path: '/app', secure: true }))], create: true }, T0)
    t.match(r, { status: 'applied', id, absoluteExpiry: T0 + contractTimeouts.absoluteMs, persistent: false, refused: 0 })
    const rec = await store.load(id, T0 + 1)
    t.equal(rec?.created, T0)
    t.same(rec?.cookies, [cookie('sid', value, { path: '/app', secure: true })])
  })

  t.test('apply without create does not resurrect a session that is gone', async (t) => {
    const id = newSessionId()
    t.same(await store.apply(id, { changes: [set(cookie('a', '1'))], create: false }, T0), { status: 'gone' })
    t.equal(await store.load(id, T0), undefined)
  })

  t.test('50 parallel responses setting 50 different cookies all survive', async (t) => {
    const id = newSessionId()
    await store.apply(id, { changes: [set(cookie('first', '0'))], create: true }, T0)
    await Promise.all(Array.from({ length: 50 }, async (_, i) =>
      await store.apply(id, { changes: [set(cookie(`c${i}`, String(i)))], create: false }, T0 + i)))
    const rec = await store.load(id, T0 + 100)
    t.equal(rec?.cookies.length, 51)
  })

  t.test('a delete change removes the cookie; replacing one keeps its creation time', async (t) => {
    const id = newSessionId()
    await store.apply(id, { changes: [set(cookie('a', '1')), set(cookie('b', '1'))], create: true }, T0)
    await store.apply(id, { changes: [{ op: 'delete', domain: 'app.test', path: '/', name: 'a' }, set(cookie('b', '2', { created: T0 + 5 }))], create: false }, T0 + 5)
    const rec = await store.load(id, T0 + 6)
    t.same(rec?.cookies, [cookie('b', '2', { created: T0 })])
  })

  t.test('idle: session-only cookies end, and a session holding only those ends', async (t) => {
    const id = newSessionId()
    await store.apply(id, { changes: [set(cookie('a', '1'))], create: true }, T0)
    t.ok(await store.load(id, T0 + contractTimeouts.idleMs - 1), 'still alive just before the idle timeout (and touched)')
    t.ok(await store.load(id, T0 + 2 * contractTimeouts.idleMs - 2), 'each use extends it')
    t.equal(await store.load(id, T0 + 3 * contractTimeouts.idleMs), undefined)
  })

  t.test('idle: persistent cookies outlive the idle timeout until their own expiry', async (t) => {
    const id = newSessionId()
    const remember = T0 + 10 * contractTimeouts.idleMs
    const r = await store.apply(id, { changes: [set(cookie('tmp', '1')), set(cookie('remember', '1', { expires: remember }))], create: true }, T0)
    t.match(r, { status: 'applied', persistent: true })
    const later = await store.load(id, T0 + 2 * contractTimeouts.idleMs)
    t.same(later?.cookies.map((c) => c.name), ['remember'])
    t.equal(await store.load(id, remember + 3 * contractTimeouts.idleMs), undefined, 'gone once idle past its last cookie')
  })

  t.test('absolute timeout: cookies are capped at it and the session ends there', async (t) => {
    const id = newSessionId()
    const farFuture = T0 + 100 * contractTimeouts.absoluteMs
    await store.apply(id, { changes: [set(cookie('r', '1', { expires: farFuture }))], create: true }, T0)
    const rec = await store.inspect(id, T0 + 1)
    t.equal(rec?.cookies[0].expires, T0 + contractTimeouts.absoluteMs)
    t.equal(await store.load(id, T0 + contractTimeouts.absoluteMs), undefined)
  })

  t.test('a read within touchEveryMs of the last one records nothing', async (t) => {
    const id = newSessionId()
    await store.apply(id, { changes: [set(cookie('a', '1'))], create: true }, T0)
    await store.load(id, T0 + contractTimeouts.touchEveryMs - 1)
    t.equal((await store.inspect(id, T0 + 1))?.lastSeen, T0, 'not yet worth a write')
    await store.load(id, T0 + contractTimeouts.touchEveryMs)
    t.equal((await store.inspect(id, T0 + 1))?.lastSeen, T0 + contractTimeouts.touchEveryMs)
  })

  t.test('inspect does not count as use', async (t) => {
    const id = newSessionId()
    await store.apply(id, { changes: [set(cookie('a', '1'))], create: true }, T0)
    await store.inspect(id, T0 + 1000)
    t.equal((await store.inspect(id, T0 + 2000))?.lastSeen, T0)
  })

  t.test('regenerate moves the jar; the old id answers during the grace period only', async (t) => {
    const oldId = newSessionId()
    const newId = newSessionId()
    await store.apply(oldId, { changes: [set(cookie('a', '1'))], create: true, user: 'alice' }, T0)
    t.equal(await store.regenerate(oldId, newId, T0 + 1), true)
    t.same((await store.load(newId, T0 + 2))?.cookies.map((c) => c.name), ['a'])
    t.equal((await store.load(oldId, T0 + 2))?.movedTo, newId)
    const r = await store.apply(oldId, { changes: [set(cookie('late', '1'))], create: false }, T0 + 3)
    t.match(r, { status: 'applied', id: newId }, 'a response in flight on the old id writes to the new one')
    t.same((await store.load(newId, T0 + 4))?.cookies.map((c) => c.name).sort(), ['a', 'late'])
    t.same(await store.userSessions('alice', T0 + 5), [newId])
    t.equal(await store.load(oldId, T0 + 1 + contractTimeouts.graceMs), undefined)
    t.equal(await store.regenerate(newSessionId(), newSessionId(), T0), false, 'unknown ids cannot be regenerated')
  })

  t.test('destroy deletes the session, also through a regenerated id', async (t) => {
    const a = newSessionId()
    const b = newSessionId()
    await store.apply(a, { changes: [set(cookie('a', '1'))], create: true }, T0)
    t.equal(await store.destroy(a), true)
    t.equal(await store.load(a, T0 + 1), undefined)
    t.equal(await store.destroy(a), false)
    await store.apply(a, { changes: [set(cookie('a', '1'))], create: true }, T0)
    await store.regenerate(a, b, T0 + 1)
    await store.destroy(a)
    t.equal(await store.load(b, T0 + 2), undefined)
  })

  t.test('users index their sessions; destroying a user ends them all', async (t) => {
    const ids = [newSessionId(), newSessionId(), newSessionId()]
    for (const id of ids) await store.apply(id, { changes: [set(cookie('a', '1'))], create: true, user: 'bob' }, T0)
    await store.apply(ids[2], { changes: [], create: false, user: 'carol' }, T0)
    t.same(await store.userSessions('bob', T0 + 1), ids.slice(0, 2).sort())
    t.same((await store.inspect(ids[2], T0 + 1))?.user, 'carol')
    t.equal(await store.destroyUser('bob', T0 + 2), 2)
    t.equal(await store.load(ids[0], T0 + 3), undefined)
    t.ok(await store.load(ids[2], T0 + 3), 'another user\'s session stays')
    t.same(await store.userSessions('bob', T0 + 3), [])
  })

  t.test('a full jar refuses new cookies but still replaces existing ones', async (t) => {
    const id = newSessionId()
    const many = Array.from({ length: contractTimeouts.maxCookies }, (_, i) => set(cookie(`c${i}`, '1')))
    await store.apply(id, { changes: many, create: true }, T0)
    const r = await store.apply(id, { changes: [set(cookie('extra', '1')), set(cookie('c0', '2'))], create: false }, T0 + 1)
    t.match(r, { status: 'applied', refused: 1 })
    const rec = await store.load(id, T0 + 2)
    t.equal(rec?.cookies.length, contractTimeouts.maxCookies)
    t.equal(rec?.cookies.find((c) => c.name === 'c0')?.value, '2')
  })

  t.test('a new session keeps exactly maxCookies cookies when one answer brings more', async (t) => {
    const id = newSessionId()
    const many = Array.from({ length: contractTimeouts.maxCookies + 5 }, (_, i) => set(cookie(`c${i}`, '1')))
    const r = await store.apply(id, { changes: many, create: true, user: 'dave' }, T0)
    t.match(r, { status: 'applied', refused: 5 })
    t.equal((await store.load(id, T0 + 1))?.cookies.length, contractTimeouts.maxCookies)
  })

  t.test('the jar stops being persistent once its last persistent cookie is deleted or replaced', async (t) => {
    const id = newSessionId()
    const remember = T0 + 10 * contractTimeouts.idleMs
    t.match(await store.apply(id, { changes: [set(cookie('sid', '1')), set(cookie('remember', '1', { expires: remember }))], create: true }, T0),
      { persistent: true })
    t.match(await store.apply(id, { changes: [{ op: 'delete', domain: 'app.test', path: '/', name: 'remember' }], create: false }, T0 + 1),
      { status: 'applied', persistent: false }, 'logout deleted the persistent cookie')
    t.match(await store.apply(id, { changes: [set(cookie('remember', '2', { expires: remember }))], create: false }, T0 + 2), { persistent: true })
    t.match(await store.apply(id, { changes: [set(cookie('remember', '3'))], create: false }, T0 + 3),
      { persistent: false }, 'replaced by a session-only cookie')
  })

  t.test('SameSite and the order within one answer load back; a replaced cookie keeps its place', async (t) => {
    const id = newSessionId()
    const long = 'v'.repeat(100) // past 64 bytes Redis stops keeping a hash in insertion order
    const changes = ['z', 'y', 'x', 'w'].map((name, order) => set(cookie(name, long, { order, sameSite: (['strict', 'lax', 'none', 'default'] as const)[order] })))
    await store.apply(id, { changes, create: true }, T0)
    const first = new Map((await store.load(id, T0 + 1))?.cookies.map((c) => [c.name, c]))
    t.same(['z', 'y', 'x', 'w'].map((n) => first.get(n)?.sameSite), ['strict', 'lax', 'none', 'default'])
    await store.apply(id, { changes: [set(cookie('y', 'new', { created: T0 + 5, order: 0 }))], create: false }, T0 + 5)
    const rec = await store.load(id, T0 + 6)
    const byName = new Map(rec?.cookies.map((c) => [c.name, c]))
    t.same(['z', 'y', 'x', 'w'].map((n) => byName.get(n)?.order), [0, 1, 2, 3])
    t.same(byName.get('y'), cookie('y', 'new', { created: T0, order: 1, sameSite: 'default' }), 'value and attributes new, creation and place kept')
  })

  t.test('the time the app last rotated its session cookie is kept, also across a regenerate', async (t) => {
    const a = newSessionId()
    const b = newSessionId()
    await store.apply(a, { changes: [set(cookie('PHPSESSID', '1'))], create: true }, T0)
    t.equal((await store.load(a, T0 + 1))?.rotatedAt, 0)
    await store.regenerate(a, b, T0 + 2)
    await store.apply(b, { changes: [set(cookie('PHPSESSID', '2'))], create: false, rotatedAt: T0 + 2 }, T0 + 2)
    t.equal((await store.load(b, T0 + 3))?.rotatedAt, T0 + 2)
    const c = newSessionId()
    await store.regenerate(b, c, T0 + 4)
    t.equal((await store.load(c, T0 + 5))?.rotatedAt, T0 + 2)
  })

  t.test('retire: the old id records from when it is retired; the new one is untouched', async (t) => {
    const oldId = newSessionId()
    const newId = newSessionId()
    await store.apply(oldId, { changes: [set(cookie('a', '1'))], create: true }, T0)
    await store.regenerate(oldId, newId, T0 + 1)
    t.match(await store.load(oldId, T0 + 2), { movedTo: newId, retiredAt: 0 }, 'in flight until retired')
    await store.retire(oldId, T0 + 3)
    t.match(await store.load(oldId, T0 + 4), { movedTo: newId, retiredAt: T0 + 3 })
    t.match(await store.load(newId, T0 + 4), { retiredAt: 0, movedTo: undefined })
    await store.retire(newId, T0 + 5) // not moved: nothing to retire
    t.match(await store.load(newId, T0 + 6), { retiredAt: 0 })
  })

  t.test('answers racing a regenerate never find the session gone, and all land in the new jar', async (t) => {
    for (let round = 0; round < 20; round++) {
      const oldId = newSessionId()
      const newId = newSessionId()
      await store.apply(oldId, { changes: [set(cookie('base', '1'))], create: true }, T0)
      const writes = Array.from({ length: 10 }, async (_, i) => await store.apply(oldId, { changes: [set(cookie(`w${i}`, '1'))], create: false }, T0 + 1))
      const [regenerated, ...results] = await Promise.all([store.regenerate(oldId, newId, T0 + 1), ...writes])
      t.equal(regenerated, true)
      t.same(results.filter((r) => r.status !== 'applied'), [], `round ${round}: no write found the session gone`)
      const names = (await store.load(newId, T0 + 2))?.cookies.map((c) => c.name).sort()
      t.same(names, ['base', ...Array.from({ length: 10 }, (_, i) => `w${i}`)].sort(), `round ${round}: every write is in the new jar`)
    }
  })
}
