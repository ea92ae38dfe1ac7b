import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { startPhp } from '../helpers/php.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'

/**
 * What an unmodified PHP app believes about who is asking: a real gateway process in front of a
 * real `php -S` serving test/fixtures/php-app/server.php, which echoes every `$_SERVER['HTTP_*']`
 * (and REQUEST_SCHEME/HTTPS when set). PHP maps `-` and `_` (and `.`) in a field name alike to `_`
 * under `HTTP_`, so `Podside_Session_Id` reads as `HTTP_PODSIDE_SESSION_ID`: every spelling a client
 * can send must be dropped by the gateway, or the app would take it for the gateway's word.
 */
const DOCROOT = fileURLToPath(new URL('../fixtures/php-app/', import.meta.url))

type Seen = Record<string, string>

const app = await startPhp({ docroot: DOCROOT })
t.teardown(async () => await app.stop())

async function gateway (t: Test, ...extra: string[]): Promise<Daemon> {
  const d = await startDaemon('gateway', ['--upstream', app.url, ...extra])
  t.teardown(async () => { await d.stop() })
  return d
}

/** GET <gateway>/server.php with the given fields (a flat [name, value, …] list keeps spellings); what PHP saw. */
async function seen (base: string, fields: string[], query = ''): Promise<{ server: Seen, setCookie: string[] }> {
  const res = await request(`${base}/server.php${query}`, { headers: fields })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET /server.php${query} answered ${res.statusCode}: ${text.slice(0, 500)}`)
  const sc = res.headers['set-cookie']
  return { server: JSON.parse(text) as Seen, setCookie: sc === undefined ? [] : Array.isArray(sc) ? sc : [sc] }
}

const podsideKeys = (s: Seen): Seen => Object.fromEntries(Object.entries(s).filter(([k]) => k.startsWith('HTTP_PODSIDE_')))

/** Every spelling of the Podside- family a client might try, with values that name themselves. */
const FORGED_PODSIDE = [
  'Podside-Session-Id', 'forged-dash-id',
  'Podside_Session_Id', 'forged-underscore-id',
  'PODSIDE_SESSION_USER', 'forged-user',
  'podside-session-extra', 'forged-extra',
  'Podside-Task-Id', 'forged-task',
  'Podside_Node', 'forged-node',
  'pOdSiDe-SeSsIoN_iD', 'forged-mixed-id',
  'PODSIDE-session', 'forged-directive',
  'Podside_Task_Name', 'forged-task-name'
]

t.test('no Podside- field a client sends, in any spelling of - and _ and case, reaches PHP when there is no session', async (t) => {
  const gw = await gateway(t)
  const { server } = await seen(gw.url, FORGED_PODSIDE)
  t.same(podsideKeys(server), {}, 'PHP sees no HTTP_PODSIDE_* at all')
  t.notMatch(JSON.stringify(server), /forged/, 'no forged value under any name')
})

t.test('with a real session, HTTP_PODSIDE_SESSION_ID is the gateway\'s own id whatever the client sends', async (t) => {
  const gw = await gateway(t)
  // PHP's session_start sets a cookie: the gateway makes a session and hands out its podside cookie.
  const first = await seen(gw.url, [], '?session=1')
  const line = first.setCookie.find((l) => l.startsWith('podside='))
  if (line === undefined) throw new Error(`no podside cookie in ${JSON.stringify(first.setCookie)}`)
  const value = line.slice('podside='.length).split(';')[0]
  const id = value.slice(0, value.indexOf('.'))
  t.match(id, /^[A-Za-z0-9_-]{32}$/, 'the cookie is <id>.<mac>')
  const admin = await request(`${gw.adminUrl}/v1/sessions/${id}`)
  await admin.body.text()
  t.equal(admin.statusCode, 200, 'the gateway knows the id')

  const { server } = await seen(gw.url, ['cookie', `podside=${value}`, ...FORGED_PODSIDE])
  t.same(podsideKeys(server), { HTTP_PODSIDE_SESSION_ID: id }, 'only the gateway\'s session id, under its one name')
  t.notMatch(JSON.stringify(server), /forged/, 'no forged value under any name')
  t.notMatch(server.HTTP_COOKIE ?? '', /podside=/, 'the podside cookie itself is not passed on')
  t.match(server.HTTP_COOKIE ?? '', /PHPSESSID=/, 'PHP gets its own session cookie from the jar')

  // A forged podside cookie (someone else's id with a made-up MAC) is no session: no id reaches PHP.
  const forged = await seen(gw.url, ['cookie', `podside=${id}.${'A'.repeat(43)}`, 'Podside_Session_Id', id])
  t.same(podsideKeys(forged.server), {}, 'a forged cookie plus a forged field: PHP sees no session id')
})

/** The forwarding family a client not behind --trust-proxy might send, in dashed and underscored spellings. */
const FORGED_FORWARDING = [
  'X-Forwarded-Ssl', 'on',
  'X-Forwarded-Scheme', 'https',
  'X-Forwarded-Port', '443',
  'X-Forwarded-Prefix', '/forged-prefix',
  'X-Real-IP', '203.0.113.66',
  'Forwarded', 'for=203.0.113.66;proto=https;host=evil.example',
  'X_Forwarded_Proto', 'https',
  'x_forwarded_for', '203.0.113.66',
  'X-Forwarded-Host', 'evil.example',
  'X-Forwarded-Proto', 'https',
  'X-Forwarded-For', '203.0.113.66'
]

t.test('without --trust-proxy, no forwarding field reaches PHP with the client\'s value; the gateway\'s own are the peer and http', async (t) => {
  const gw = await gateway(t)
  const host = new URL(gw.url).host
  const { server } = await seen(gw.url, FORGED_FORWARDING)
  t.equal(server.HTTP_X_FORWARDED_FOR, '127.0.0.1', 'X-Forwarded-For is the peer alone')
  t.equal(server.HTTP_X_FORWARDED_PROTO, 'http', 'X-Forwarded-Proto is what the client used')
  t.equal(server.HTTP_X_FORWARDED_HOST, host, 'X-Forwarded-Host is the Host the client sent')
  for (const k of ['HTTP_X_FORWARDED_SSL', 'HTTP_X_FORWARDED_SCHEME', 'HTTP_X_FORWARDED_PORT', 'HTTP_X_FORWARDED_PREFIX', 'HTTP_X_REAL_IP', 'HTTP_FORWARDED']) {
    t.equal(server[k], undefined, `${k} is not set`)
  }
  t.equal(server.HTTPS, undefined, 'PHP does not believe it was reached over https')
  if (server.REQUEST_SCHEME !== undefined) t.equal(server.REQUEST_SCHEME, 'http')
  t.notMatch(JSON.stringify(server), /203\.0\.113\.66|evil\.example|forged-prefix/, 'no client value under any name')
})

t.test('with --trust-proxy, the proxy\'s X-Forwarded-Ssl, Forwarded and X-Real-IP pass and X-Forwarded-For is extended with the peer', async (t) => {
  const gw = await gateway(t, '--trust-proxy')
  const { server } = await seen(gw.url, [
    'X-Forwarded-Ssl', 'on',
    'Forwarded', 'for=198.51.100.7;proto=https',
    'X-Real-IP', '198.51.100.7',
    'X-Forwarded-For', '198.51.100.7',
    'X-Forwarded-Proto', 'https',
    'X-Forwarded-Host', 'www.example'
  ])
  t.equal(server.HTTP_X_FORWARDED_SSL, 'on')
  t.equal(server.HTTP_FORWARDED, 'for=198.51.100.7;proto=https')
  t.equal(server.HTTP_X_REAL_IP, '198.51.100.7')
  t.equal(server.HTTP_X_FORWARDED_FOR, '198.51.100.7, 127.0.0.1', 'the chain plus the peer')
  t.equal(server.HTTP_X_FORWARDED_PROTO, 'https')
  t.equal(server.HTTP_X_FORWARDED_HOST, 'www.example')
})

t.test('with --trust-proxy, underscore spellings of forwarding fields still never reach PHP', async (t) => {
  const gw = await gateway(t, '--trust-proxy')
  const alone = await seen(gw.url, [
    'X_Forwarded_Ssl', 'on',
    'X_Real_IP', '198.51.100.66',
    'x_forwarded_for', '198.51.100.66',
    'X_Forwarded_Proto', 'https',
    'X_FORWARDED_HOST', 'evil.example',
    'Forwarded_', 'x'
  ])
  t.equal(alone.server.HTTP_X_FORWARDED_SSL, undefined, 'X_Forwarded_Ssl alone: PHP sees no HTTP_X_FORWARDED_SSL')
  t.equal(alone.server.HTTP_X_REAL_IP, undefined, 'X_Real_IP alone: no HTTP_X_REAL_IP')
  t.equal(alone.server.HTTP_X_FORWARDED_FOR, '127.0.0.1', 'x_forwarded_for alone: the peer only')
  t.equal(alone.server.HTTP_X_FORWARDED_PROTO, 'http')
  t.equal(alone.server.HTTP_X_FORWARDED_HOST, new URL(gw.url).host)

  // Next to the dashed spelling (which the trusted proxy set), the underscored one does not win or join it.
  const both = await seen(gw.url, ['X-Forwarded-Ssl', 'on', 'X_Forwarded_Ssl', 'forged-underscore', 'X-Real-IP', '198.51.100.7', 'X_Real_Ip', 'forged-underscore'])
  t.equal(both.server.HTTP_X_FORWARDED_SSL, 'on')
  t.equal(both.server.HTTP_X_REAL_IP, '198.51.100.7')
  t.notMatch(JSON.stringify(both.server), /forged/)
})

t.test('a dotted spelling (Podside.Session.Id, X.Forwarded.Ssl), which PHP also reads as HTTP_…, does not reach PHP either', async (t) => {
  // PHP's variable registration turns `.` (and space) in a name into `_`, as it does `-`: a field
  // `X.Real.IP` arrives as $_SERVER['HTTP_X_REAL_IP']. `.` is a valid token character (RFC 9110
  // §5.6.2), so Node's parser and undici both let it through.
  const gw = await gateway(t)
  const { server } = await seen(gw.url, [
    'Podside.Session.Id', 'forged-dotted-id',
    'Podside.Session.User', 'forged-dotted-user',
    'X.Forwarded.Ssl', 'forged-dotted-ssl',
    'X.Real.IP', 'forged-dotted-ip',
    'X.Forwarded.Scheme', 'forged-dotted-scheme'
  ])
  t.same(podsideKeys(server), {}, 'no HTTP_PODSIDE_* from a dotted spelling')
  for (const k of ['HTTP_X_FORWARDED_SSL', 'HTTP_X_REAL_IP', 'HTTP_X_FORWARDED_SCHEME']) t.equal(server[k], undefined, `${k} is not set`)
  t.notMatch(JSON.stringify(server), /forged/, 'no forged value under any name')
})
