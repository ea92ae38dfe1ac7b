import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { appRequestParts, loadSession } from '../../gateway/session-load.js'
import { createSigner, newSessionId } from '../../gateway/session-cookie.js'
import { createMemoryStore } from '../../gateway/store/memory.js'
import { clientView } from '../../gateway/forwarded.js'
import { silentLogger } from '../helpers/log.js'

const T0 = 1_800_000_000_000
const timeouts = { idleMs: 60_000, absoluteMs: 3_600_000, graceMs: 10_000, maxCookies: 200, touchEveryMs: 1_000 }
const signer = createSigner(['k'.repeat(32)])
const cookie = { name: 'a', value: '1', domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: true, expires: 0, created: T0, order: 0, sameSite: 'default' as const }
const req = (id: string): IncomingMessage => ({ headers: { cookie: `podside=${signer.sign(id)}; other=x`, host: 'app.test' }, url: '/', method: 'GET', socket: { remoteAddress: '10.0.0.1' } }) as unknown as IncomingMessage

async function regenerated () {
  const store = createMemoryStore(timeouts)
  t.teardown(async () => await store.close())
  const oldId = newSessionId()
  const newId = newSessionId()
  await store.apply(oldId, { changes: [{ op: 'set', cookie }], create: true }, T0)
  await store.regenerate(oldId, newId, T0 + 10)
  return { deps: { store, signer, cookieName: 'podside', storeFailure: 'closed' as const }, oldId, newId }
}

t.test('a request with the old id that arrived before the regenerate retired it is in flight: it works on the new id', async (t) => {
  const { deps, oldId, newId } = await regenerated()
  await deps.store.retire(oldId, T0 + 20)
  const loaded = await loadSession(deps, req(oldId), T0 + 19, silentLogger())
  t.equal(loaded.stale, false)
  const parts = appRequestParts(loaded, clientView(req(oldId), false), T0 + 19)
  t.equal(parts.sessionId, newId)
  t.equal(parts.cookie, 'a=1; other=x')
})

t.test('a request with the old id arriving once it is retired gets no session, and is marked stale', async (t) => {
  const { deps, oldId } = await regenerated()
  await deps.store.retire(oldId, T0 + 20)
  const loaded = await loadSession(deps, req(oldId), T0 + 20, silentLogger())
  t.same({ session: loaded.session, stale: loaded.stale }, { session: undefined, stale: true })
  const parts = appRequestParts(loaded, clientView(req(oldId), false), T0 + 20)
  t.same({ sessionId: parts.sessionId, cookie: parts.cookie }, { sessionId: undefined, cookie: 'other=x' }, 'the browser\'s own cookies still pass')
})

t.test('a tampered or unknown cookie is no session, not stale', async (t) => {
  const { deps } = await regenerated()
  const tampered = { ...req(newSessionId()), headers: { cookie: 'podside=abc.def' } } as unknown as IncomingMessage
  t.match(await loadSession(deps, tampered, T0, silentLogger()), { session: undefined, stale: false, storeUp: true })
  t.match(await loadSession(deps, req(newSessionId()), T0, silentLogger()), { session: undefined, stale: false })
})
