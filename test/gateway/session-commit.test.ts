import http, { type IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { loadConfig } from '../../shared/load-config.js'
import { closeRedis, createRedisClient, waitReady } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { clientView, type ClientView } from '../../gateway/forwarded.js'
import { createGatewayMetrics } from '../../gateway/metrics.js'
import { commitNeeded, createSessionCommitter, type CommitDeps, type CommitRequest } from '../../gateway/session-commit.js'
import { createSigner, newSessionId } from '../../gateway/session-cookie.js'
import { instrumentStore } from '../../gateway/store/instrumented.js'
import { createMemoryStore } from '../../gateway/store/memory.js'
import { createRedisStore } from '../../gateway/store/redis.js'
import type { SessionRecord, SessionStore } from '../../gateway/store/store.js'
import { checkGatewayConfig, gatewaySettings } from '../../gateway/settings.js'
import { createGateway } from '../../gateway/server.js'
import { Browser } from '../helpers/browser.js'
import { capturingLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { serve } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * What the browser and the app see after an answer that asks something of the session, through a
 * real gateway (in-process, time injected) in front of an app that answers whatever
 * `Set-Cookie` lines the request names: `/set?c=<line>&c=<line>&g=<name>:<char>:<length>`. Every request is answered with
 * the Cookie header and session id the app received.
 */
// The app accepts large request heads: Node's own 16 KiB default would refuse the rebuilt Cookie header.
const app = await serve(http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://app')
  const lines = url.searchParams.getAll('c')
  // g=<name>:<char>:<length>: a cookie too large to name in the request's URL.
  for (const g of url.searchParams.getAll('g')) {
    const [name, char, length] = g.split(':')
    lines.push(`${name}=${char.repeat(Number(length))}`)
  }
  const body = JSON.stringify({ cookie: req.headers.cookie ?? '', sessionId: req.headers['podside-session-id'] ?? null })
  res.writeHead(200, { 'content-type': 'application/json', ...(lines.length > 0 ? { 'set-cookie': lines } : {}) }).end(body)
}))
const redis = await startRedis()
t.teardown(async () => { await app.close(); await stopRedis(redis) })

async function gateway (t: Test, args: string[] = []) {
  const { log, lines } = capturingLogger()
  const { values } = loadConfig(gatewaySettings, ['--upstream', app.url, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...args], {}, checkGatewayConfig)
  let now = 1_800_000_000_000
  const gw = createGateway(values, { log, clock: () => now })
  const urls = await gw.listen()
  t.teardown(async () => await gw.close())
  return { ...urls, lines, advance: (ms: number) => { now += ms } }
}

const set = (...lines: string[]): string => '/set?' + lines.map((l) => 'c=' + encodeURIComponent(l)).join('&')
const stores: Array<[string, () => string[]]> = [
  ['memory', () => []],
  ['redis', () => ['--redis', redis.url, '--secret', 's'.repeat(32)]]
]

for (const [kind, storeArgs] of stores) {
  t.test(`${kind}: the app rotating PHPSESSID (its login) gives the browser a new podside id; the planted one stays anonymous`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const attacker = new Browser()
    await attacker.get(gw.url, set('PHPSESSID=anon1; Path=/'))
    const planted = attacker.cookies.get('podside') as string
    const victim = new Browser()
    victim.cookies.set('podside', planted)
    const before = await victim.get(gw.url, '/')
    t.match(before.json.cookie, /PHPSESSID=anon1/)
    await victim.get(gw.url, set('PHPSESSID=loggedin2; Path=/'))
    t.not(victim.cookies.get('podside'), planted, 'a new podside cookie was issued with the login')
    t.match((await victim.get(gw.url, '/')).json.cookie, /PHPSESSID=loggedin2/)
    gw.advance(11_000) // past the grace period of the old id
    const late = await attacker.get(gw.url, '/')
    t.notMatch(late.json.cookie, /loggedin2/, 'the planted cookie does not reach the victim\'s login')
  })

  t.test(`${kind}: --app-session-cookies '' turns the regeneration off`, async (t) => {
    const gw = await gateway(t, [...storeArgs(), '--app-session-cookies', ''])
    const b = new Browser()
    await b.get(gw.url, set('PHPSESSID=1'))
    const first = b.cookies.get('podside')
    await b.get(gw.url, set('PHPSESSID=2'))
    t.equal(b.cookies.get('podside'), first)
  })

  t.test(`${kind}: after logout deleted the persistent cookie, the podside cookie is session-only again`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    await b.get(gw.url, set('sid=1', 'remember=me; Max-Age=31536000'))
    t.match(b.received.at(-1), /^podside=.*Max-Age=\d+/)
    await b.get(gw.url, set('remember=; Max-Age=0'))
    t.match(b.received.at(-1), /^podside=/)
    t.notMatch(b.received.at(-1), /Max-Age/, 'session-only')
    t.match((await b.get(gw.url, '/')).json.cookie, /^sid=1$/, 'the session goes on')
  })

  t.test(`${kind}: the app receives one answer's cookies in the order of its Set-Cookie lines, long values too`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    const sess = 'x'.repeat(200)
    await b.get(gw.url, set(`sess=${sess}; Path=/`, 'sess.sig=abc; Path=/', 'z=1', 'a=2'))
    t.equal((await b.get(gw.url, '/')).json.cookie, `sess=${sess}; sess.sig=abc; z=1; a=2`)
    await b.get(gw.url, set(`sess=${'y'.repeat(200)}; Path=/`))
    t.equal((await b.get(gw.url, '/')).json.cookie, `sess=${'y'.repeat(200)}; sess.sig=abc; z=1; a=2`, 'a replaced cookie keeps its place')
  })

  t.test(`${kind}: SameSite of jar cookies on cross-site requests`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    await b.get(gw.url, set('strict=1; SameSite=Strict', 'lax=1; SameSite=Lax', 'plain=1'))
    const nav = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }
    t.equal((await b.get(gw.url, '/', { 'sec-fetch-site': 'same-origin' })).json.cookie, 'strict=1; lax=1; plain=1')
    t.equal((await b.get(gw.url, '/', nav)).json.cookie, 'lax=1; plain=1', 'a link from another site: no Strict cookie')
    t.equal((await b.get(gw.url, '/', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' })).json.cookie, '', 'a cross-site fetch gets neither')
    const post = await b.fetch(gw.url, '/', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: 'x' })
    t.equal(post.json.cookie, '', 'a cross-site form POST (Origin only) gets neither')
  })

  t.test(`${kind}: cookies up to 16 KiB each pass in app answers of any header size; larger ones are refused and logged`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    const r1 = await b.get(gw.url, '/set?g=big:b:16300')
    t.equal(r1.status, 200, 'one 16,300-byte cookie')
    const r2 = await b.get(gw.url, '/set?g=n1:1:9000&g=n2:2:9000')
    t.equal(r2.status, 200, 'two cookies of 9,000 bytes')
    t.equal((await b.get(gw.url, '/')).json.cookie.length, 'big='.length + 16_300 + '; n1='.length + 9000 + '; n2='.length + 9000)
    const r3 = await b.get(gw.url, `/set?g=huge:h:${17 * 1024}&c=small%3D1`)
    t.equal(r3.status, 200, 'the answer still reaches the browser')
    t.notMatch((await b.get(gw.url, '/')).json.cookie, /huge=/)
    t.match((await b.get(gw.url, '/')).json.cookie, /small=1/)
    const refused = gw.lines.find((l) => l.msg === 'set-cookie refused')
    t.equal(refused?.cookie, 'huge')
    t.notMatch(JSON.stringify(gw.lines), /hhhh/, 'the value is never logged')
  })

  t.test(`${kind}: a jar holds 200 cookies, not one more`, async (t) => {
    const gw = await gateway(t, storeArgs())
    const b = new Browser()
    const lines = Array.from({ length: 205 }, (_, i) => `c${i}=${i}`)
    await b.get(gw.url, set(...lines))
    t.equal((await b.get(gw.url, '/')).json.cookie.split('; ').length, 200)
  })
}

t.test('SameSite=None jar cookies reach cross-site requests only with --cookie-samesite none', async (t) => {
  const nav = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }
  const cors = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' }
  const lax = await gateway(t)
  const b1 = new Browser()
  await b1.get(lax.url, set('n=1; SameSite=None; Secure', 'l=1; SameSite=Lax'))
  t.equal((await b1.get(lax.url, '/', nav)).json.cookie, 'l=1', 'podside cookie Lax: the None cookie stays home')
  const none = await gateway(t, ['--cookie-samesite', 'none'])
  const b2 = new Browser()
  await b2.get(none.url, set('n=1; SameSite=None; Secure', 'l=1; SameSite=Lax'))
  t.equal((await b2.get(none.url, '/', cors)).json.cookie, 'n=1', 'podside cookie None: a cross-site fetch carries the None cookie only')
})

t.test('--cookie-samesite none: the podside cookie is SameSite=None; Secure', async (t) => {
  const gw = await gateway(t, ['--cookie-samesite', 'none'])
  const b = new Browser()
  await b.get(gw.url, set('a=1'))
  t.match(b.received[0], /; SameSite=None; Secure$/)
  const res = await request(gw.adminUrl + '/metrics')
  t.match(await res.body.text(), /podside_gateway_app_session_resets_total/)
})

/*
 * createSessionCommitter on its own: a real memory store (and, for store failures, the Redis store
 * behind a relay that is cut), an answer's headers given as the app sent them.
 */
const T0 = 1_800_000_000_000
const unitTimeouts = { idleMs: 60_000, absoluteMs: 3_600_000, graceMs: 10_000, maxCookies: 200, touchEveryMs: 1_000 }
const unitSigner = createSigner(['u'.repeat(32)])
const httpView = (): ClientView => clientView({ headers: { host: 'app.test' }, url: '/', method: 'GET', socket: { remoteAddress: '10.0.0.1' } } as unknown as IncomingMessage, false)
const httpsView = (): ClientView => ({ ...httpView(), proto: 'https', url: { ...httpView().url, secure: true } })
const plain: CommitRequest = { cookie: '', stale: false }

function committer (t: Test, over: Partial<CommitDeps> = {}) {
  const store = over.store ?? createMemoryStore(unitTimeouts)
  if (over.store === undefined) t.teardown(async () => await store.close())
  const { log, lines } = capturingLogger()
  const metrics = createGatewayMetrics()
  const rotations: Array<[string, number, number]> = []
  let now = T0 + 500
  const commit = createSessionCommitter({
    store,
    signer: unitSigner,
    log,
    metrics,
    cookieName: 'podside',
    clock: () => now,
    cookieSecure: 'auto',
    cookieSameSite: 'lax',
    passthrough: new Set(['XSRF-TOKEN']),
    appSessionCookies: new Set(['PHPSESSID']),
    onAppSessionRotation: (cookie, previous, at) => { rotations.push([cookie, previous, at]) },
    maxCookieBytes: 4096,
    storeFailure: 'closed',
    ...over
  })
  return { commit, store, log, lines, metrics, rotations, setClock: (ms: number) => { now = ms } }
}

/** The id a `podside=<signed>` Set-Cookie line names (verified), or undefined. */
function idOf (line: string | undefined): string | undefined {
  const m = /^podside=([^;]*)/.exec(line ?? '')
  return m === null ? undefined : unitSigner.verify(m[1])
}

async function seeded (store: SessionStore, lines: string[] = ['a=1']): Promise<SessionRecord> {
  const id = newSessionId()
  const changes = lines.map((l, order) => {
    const [name, value] = l.split('=')
    return { op: 'set' as const, cookie: { name, value, domain: 'app.test', path: '/', hostOnly: true, secure: false, httpOnly: false, expires: 0, created: T0, order, sameSite: 'default' as const } }
  })
  await store.apply(id, { changes, create: true }, T0)
  return await store.load(id, T0) as SessionRecord
}

t.test('commitNeeded: only Set-Cookie or a Podside-Session directive asks anything of the session', async (t) => {
  t.equal(commitNeeded({}), false)
  t.equal(commitNeeded({ 'content-type': 'text/html' }), false)
  t.equal(commitNeeded({ 'set-cookie': ['a=1'] }), true)
  t.equal(commitNeeded({ 'podside-session': 'destroy' }), true)
  t.equal(commitNeeded({ 'podside-session-user': 'alice' }), true)
})

t.test('commit: an answer without cookies or directives leaves an anonymous request anonymous', async (t) => {
  const { commit, lines, log } = committer(t)
  t.same(await commit(undefined, {}, httpView(), plain, T0, log), { setCookies: [], state: 'none' })
  t.same(lines, [])
})

t.test('commit: the first Set-Cookie creates a session and issues a signed, session-only podside cookie', async (t) => {
  const { commit, store, metrics, log } = committer(t)
  const result = await commit(undefined, { 'set-cookie': ['sid=1; Path=/'] }, httpView(), plain, T0, log)
  t.equal(result.state, 'created')
  t.equal(result.setCookies.length, 1)
  t.match(result.setCookies[0], /^podside=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, 'no Max-Age, no Secure over http')
  const id = idOf(result.setCookies[0])
  t.ok(id, 'the cookie carries an id signed with our key')
  t.same((await store.inspect(id as string, T0))?.cookies.map((c) => `${c.name}=${c.value}`), ['sid=1'])
  t.match(await metrics.registry.metrics(), /podside_gateway_sessions_created_total 1/)
})

t.test('commit: a jar cookie that outlives the idle timeout makes the podside cookie persist to the absolute expiry', async (t) => {
  const { commit, log } = committer(t)
  const result = await commit(undefined, { 'set-cookie': ['remember=1; Max-Age=31536000'] }, httpView(), plain, T0, log)
  // absoluteMs is one hour: the cookie lasts to it, not to the app's year.
  t.match(result.setCookies[0], /; Max-Age=3600$/)
})

t.test('commit: a loaded session with new cookies stays loaded; its podside cookie is set again only when its lifetime changes', async (t) => {
  const { commit, store, log } = committer(t)
  const session = await seeded(store)
  const result = await commit(session, { 'set-cookie': ['b=2'] }, httpView(), plain, T0 + 1, log)
  t.same(result, { setCookies: [], state: 'loaded' }, 'not on every write: one racing a regenerate elsewhere would hand out the replaced id')
  t.same((await store.inspect(session.id, T0 + 1))?.cookies.map((c) => c.name), ['a', 'b'])
  const remember = await commit(session, { 'set-cookie': ['r=1; Max-Age=31536000'] }, httpView(), plain, T0 + 2, log)
  t.equal(idOf(remember.setCookies[0]), session.id, 'persistent now: the same id, with a Max-Age')
  t.match(remember.setCookies[0], /Max-Age=\d+/)
})

t.test('commit: Podside-Session-User indexes the session without reissuing the cookie', async (t) => {
  const { commit, store, log } = committer(t)
  const session = await seeded(store)
  const result = await commit(session, { 'podside-session-user': ' alice ' }, httpView(), plain, T0 + 1, log)
  t.same(result, { setCookies: [], state: 'loaded' })
  t.same(await store.userSessions('alice', T0 + 1), [session.id])
})

t.test('commit: an empty or over-long Podside-Session-User is ignored and logged by its length only', async (t) => {
  const { commit, store, lines, log } = committer(t)
  const session = await seeded(store)
  for (const user of ['', 'u'.repeat(257)]) {
    const result = await commit(session, { 'podside-session-user': user }, httpView(), plain, T0 + 1, log)
    t.same(result, { setCookies: [], state: 'loaded' }, `${user.length} characters`)
  }
  t.same(lines.filter((l) => l.msg === 'Podside-Session-User ignored: empty or too long').map((l) => l.length), [0, 257])
  t.notMatch(JSON.stringify(lines), /uuuu/, 'the value itself is not logged')
  t.same(await store.userSessions('u'.repeat(257), T0 + 1), [])
  const longest = 'u'.repeat(256)
  await commit(session, { 'podside-session-user': longest }, httpView(), plain, T0 + 1, log)
  t.same(await store.userSessions(longest, T0 + 1), [session.id], '256 characters is still a user')
})

t.test('commit: Podside-Session: destroy ends the session and expires the browser cookie, with or without one', async (t) => {
  const { commit, store, log } = committer(t)
  const session = await seeded(store)
  const result = await commit(session, { 'podside-session': ' Destroy ' }, httpView(), plain, T0 + 1, log)
  t.equal(result.state, 'destroyed')
  t.same(result.setCookies, ['podside=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0'])
  t.equal(await store.inspect(session.id, T0 + 1), undefined)
  t.same(await commit(undefined, { 'podside-session': 'destroy' }, httpView(), plain, T0 + 1, log),
    { setCookies: ['podside=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0'], state: 'destroyed' })
})

t.test('commit: Podside-Session: regenerate moves the jar to a new id and retires the old one at the clock\'s time', async (t) => {
  const { commit, store, log, setClock } = committer(t)
  const session = await seeded(store)
  setClock(T0 + 7)
  const result = await commit(session, { 'podside-session': 'regenerate' }, httpView(), plain, T0 + 1, log)
  t.equal(result.state, 'regenerated')
  const newId = idOf(result.setCookies[0])
  t.not(newId, undefined)
  t.not(newId, session.id)
  t.same((await store.inspect(newId as string, T0 + 1))?.cookies.map((c) => c.name), ['a'], 'the jar moved')
  const old = await store.inspect(session.id, T0 + 1)
  t.same({ movedTo: old?.movedTo, retiredAt: old?.retiredAt }, { movedTo: newId, retiredAt: T0 + 7 })
})

t.test('commit: Podside-Session: regenerate without a session creates none', async (t) => {
  const { commit, log } = committer(t)
  t.same(await commit(undefined, { 'podside-session': 'regenerate' }, httpView(), plain, T0, log), { setCookies: [], state: 'none' })
})

t.test('commit: an unknown Podside-Session directive is ignored and logged', async (t) => {
  const { commit, store, lines, log } = committer(t)
  const session = await seeded(store)
  t.same(await commit(session, { 'podside-session': 'explode' }, httpView(), plain, T0 + 1, log), { setCookies: [], state: 'loaded' })
  t.match(lines, [{ msg: 'unknown Podside-Session directive ignored', directive: 'explode' }])
  t.ok(await store.inspect(session.id, T0 + 1), 'the session is still there')
})

t.test('commit: the app replacing PHPSESSID the request carried regenerates our id and reports the rotation', async (t) => {
  const { commit, store, log, rotations } = committer(t)
  const session = await seeded(store, ['PHPSESSID=old'])
  const first = await commit(session, { 'set-cookie': ['PHPSESSID=new'] }, httpView(), { cookie: 'PHPSESSID=old', stale: false }, T0 + 1, log)
  t.equal(first.state, 'regenerated')
  const newId = idOf(first.setCookies[0]) as string
  t.not(newId, session.id)
  const moved = await store.load(newId, T0 + 2) as SessionRecord
  t.equal(moved.rotatedAt, T0 + 1, 'the time of the rotation is stored')
  await commit(moved, { 'set-cookie': ['PHPSESSID=newer'] }, httpView(), { cookie: 'PHPSESSID=new', stale: false }, T0 + 2, log)
  t.same(rotations, [['PHPSESSID', 0, T0 + 1], ['PHPSESSID', T0 + 1, T0 + 2]], 'each time with the one before')
})

t.test('commit: a PHPSESSID set for the first time (none in the request) is no rotation', async (t) => {
  const { commit, store, log, rotations } = committer(t)
  const session = await seeded(store)
  const result = await commit(session, { 'set-cookie': ['PHPSESSID=first'] }, httpView(), plain, T0 + 1, log)
  t.equal(result.state, 'loaded')
  t.same(rotations, [])
})

t.test('commit: writes to a session loaded through its old id land on the new one', async (t) => {
  const { commit, store, log } = committer(t)
  const session = await seeded(store)
  const newId = newSessionId()
  await store.regenerate(session.id, newId, T0 + 1)
  const viaOld = await store.load(session.id, T0 + 2) as SessionRecord
  t.equal(viaOld.movedTo, newId)
  const result = await commit(viaOld, { 'set-cookie': ['late=1'] }, httpView(), plain, T0 + 2, log)
  t.equal(idOf(result.setCookies[0]), newId)
  t.same((await store.inspect(newId, T0 + 2))?.cookies.map((c) => c.name), ['a', 'late'])
})

t.test('commit: a session ended during the request keeps nothing and sets no podside cookie', async (t) => {
  const { commit, store, lines, log } = committer(t)
  const session = await seeded(store)
  await store.destroy(session.id) // a logout elsewhere, while this request was at the app
  const result = await commit(session, { 'set-cookie': ['after=1'] }, httpView(), plain, T0 + 1, log)
  t.same(result, { setCookies: [], state: 'destroyed' }, 'no podside cookie: the browser may hold a newer id by now')
  t.equal(await store.inspect(session.id, T0 + 1), undefined, 'not recreated')
  t.ok(lines.find((l) => l.msg === 'session ended during the request; its cookies were dropped'))
})

t.test('commit: a stale request (its id replaced and retired) changes nothing; passthrough cookies still reach the browser', async (t) => {
  const { commit, store, lines, log } = committer(t)
  const session = await seeded(store)
  const result = await commit(undefined, { 'set-cookie': ['x=1', 'XSRF-TOKEN=t1'], 'podside-session': 'destroy' }, httpView(),
    { cookie: '', stale: true }, T0 + 1, log)
  t.same(result, { setCookies: ['XSRF-TOKEN=t1'], state: 'none' })
  t.ok(await store.inspect(session.id, T0 + 1), 'the destroy directive was dropped too')
  t.ok(lines.find((l) => l.msg === 'request with a replaced session id: its session changes were dropped'))
})

t.test('commit: passthrough cookies are relayed verbatim and kept out of the jar; refused ones are logged by name', async (t) => {
  const { commit, store, lines, log } = committer(t)
  const result = await commit(undefined, { 'set-cookie': ['XSRF-TOKEN=abc; Path=/; SameSite=Strict', 'big=' + 'v'.repeat(5000), 'ok=1'] },
    httpView(), plain, T0, log)
  t.equal(result.setCookies[0], 'XSRF-TOKEN=abc; Path=/; SameSite=Strict')
  const id = idOf(result.setCookies[1]) as string
  t.same((await store.inspect(id, T0))?.cookies.map((c) => c.name), ['ok'])
  t.match(lines.find((l) => l.msg === 'set-cookie refused'), { cookie: 'big', reason: 'larger than 4096 bytes' })
  t.notMatch(JSON.stringify(lines), /vvvv/)
})

t.test('commit: Secure on the podside cookie follows --cookie-secure and the browser\'s scheme', async (t) => {
  const secure = async (setting: 'auto' | 'always' | 'never', view: ClientView): Promise<boolean> => {
    const { commit, log } = committer(t, { cookieSecure: setting })
    const [line] = (await commit(undefined, { 'set-cookie': ['a=1'] }, view, plain, T0, log)).setCookies
    return /; Secure$/.test(line)
  }
  t.same([await secure('auto', httpView()), await secure('auto', httpsView())], [false, true], 'auto')
  t.same([await secure('always', httpView()), await secure('never', httpsView())], [true, false], 'always, never')
  const { commit, log } = committer(t, { cookieSameSite: 'strict' })
  t.match((await commit(undefined, { 'set-cookie': ['a=1'] }, httpView(), plain, T0, log)).setCookies[0], /SameSite=Strict/)
})

/** The Redis store as the gateway wraps it, on a connection through a relay; `cut()` makes Redis unreachable. */
async function storeBehindRelay (t: Test) {
  const relay = await startTcpProxy(redis.port)
  const client = createRedisClient(parseRedisUrl(`redis://127.0.0.1:${relay.port}`) as RedisTarget, { role: 'command', timeoutMs: 500, log: capturingLogger().log })
  t.teardown(async () => { await closeRedis(client); await relay.close() })
  if (!await waitReady(client, 10_000)) throw new Error('no connection to redis-server through the relay')
  const store = instrumentStore(createRedisStore(client, unitTimeouts), createGatewayMetrics())
  return {
    store,
    async cut () {
      relay.cut()
      await waitFor('the command connection to notice the cut', () => client.status !== 'ready' ? true : undefined)
    }
  }
}

t.test('commit: Redis unreachable: --store-failure closed throws GW_ERR_STORE_UNAVAILABLE, open answers without the jar and warns', async (t) => {
  const { store, cut } = await storeBehindRelay(t)
  const session = await seeded(store)
  await cut()
  const closed = committer(t, { store })
  await t.rejects(closed.commit(session, { 'set-cookie': ['a=2'] }, httpView(), plain, T0 + 1, closed.log), { code: 'GW_ERR_STORE_UNAVAILABLE', statusCode: 503 })
  const open = committer(t, { store, storeFailure: 'open' })
  t.same(await open.commit(session, { 'set-cookie': ['a=2'] }, httpView(), plain, T0 + 1, open.log), { setCookies: [], state: 'loaded' })
  t.same(await open.commit(undefined, { 'set-cookie': ['a=2'] }, httpView(), plain, T0 + 1, open.log), { setCookies: [], state: 'none' })
  t.ok(open.lines.find((l) => l.msg === 'store unreachable: the app\'s cookies were not stored (--store-failure open)'))
})

// Known bug, left failing on purpose (see the report of the unit-test branch): the passthrough
// lines need no store (a stale request keeps them, above), but the open fallback answers [].
t.test('commit: --store-failure open with Redis unreachable still relays passthrough cookies (XSRF-TOKEN) to the browser', async (t) => {
  const { store, cut } = await storeBehindRelay(t)
  const session = await seeded(store)
  await cut()
  const open = committer(t, { store, storeFailure: 'open' })
  const result = await open.commit(session, { 'set-cookie': ['XSRF-TOKEN=t2; Path=/', 'a=2'] }, httpView(), plain, T0 + 1, open.log)
  t.same(result.setCookies, ['XSRF-TOKEN=t2; Path=/'], 'the page scripts get their token; only the jar change is lost')
})
