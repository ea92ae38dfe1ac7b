import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../../gateway/headers.js'

const view = { url: { host: 'h', path: '/', secure: false }, proto: 'http' as const, host: 'h:80', forwardedFor: '10.0.0.1', site: 'same-site' as const, trusted: false, noneCrossSite: false }

t.test('request: hop-by-hop, Connection-listed and gateway-owned fields are dropped; duplicates kept', async (t) => {
  const rawHeaders = ['Host', 'h:80', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'TE', 'trailers', 'Accept', 'a', 'Accept', 'b',
    'Cookie', 'browser=1', 'Podside-Session-Id', 'forged', 'Expect', '100-continue', 'X-Forwarded-For', '6.6.6.6']
  const req = { rawHeaders, headers: { connection: 'keep-alive, X-Hop' } } as unknown as IncomingMessage
  t.same(upstreamRequestHeaders(req, { view, cookie: 'jar=1; browser=1', sessionId: 'S' }), [
    'Host', 'h:80', 'Accept', 'a', 'Accept', 'b',
    'cookie', 'jar=1; browser=1', 'podside-session-id', 'S',
    'x-forwarded-for', '10.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'h:80'
  ])
})

t.test('response: hop-by-hop fields, session directives and the app\'s Set-Cookie never reach the browser', async (t) => {
  const out = downstreamResponseHeaders({
    'content-type': 'text/html', connection: 'close, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked',
    'podside-session': 'regenerate', 'podside-session-user': 'u', 'set-cookie': ['secret=1'], vary: 'accept'
  }, ['podside=v; Path=/'])
  t.same(out, ['content-type', 'text/html', 'vary', 'accept', 'set-cookie', 'podside=v; Path=/'])
})

const request = (rawHeaders: string[]) => ({ rawHeaders, headers: {} }) as unknown as IncomingMessage
const names = (out: string[]) => out.filter((_, i) => i % 2 === 0)

t.test('request: every Podside- field from a client is dropped, in any spelling', async (t) => {
  const out = upstreamRequestHeaders(request(['Podside-Session-Extra', 'x', 'Podside_Session_Id', 'attacker-chosen', 'PODSIDE_SESSION_USER', 'root',
    'podside-node', 'n', 'Podside-Task-Id', 't', 'Accept', 'a']), { view, cookie: '', sessionId: undefined })
  t.same(names(out), ['Accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])
})

t.test('request: without --trust-proxy the whole forwarding family is dropped, every spelling', async (t) => {
  const spoofed = ['X-Forwarded-Ssl', 'on', 'X-Forwarded-Scheme', 'https', 'X-Forwarded-Port', '443', 'X-Forwarded-Prefix', '/admin',
    'X-Real-IP', '1.2.3.4', 'Forwarded', 'for=1.2.3.4;proto=https', 'X_Forwarded_Proto', 'https', 'x_forwarded_for', '6.6.6.6', 'X-Forwarded-Host', 'evil']
  const out = upstreamRequestHeaders(request([...spoofed, 'Accept', 'a']), { view, cookie: '', sessionId: undefined })
  t.same(out, ['Accept', 'a', 'x-forwarded-for', '10.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'h:80'])
})

t.test('request: with --trust-proxy the proxy\'s other forwarding fields pass; underscore spellings never do', async (t) => {
  const trusted = { ...view, trusted: true }
  const out = upstreamRequestHeaders(request(['X-Forwarded-Ssl', 'on', 'X-Real-IP', '1.2.3.4', 'Forwarded', 'for=1.2.3.4', 'X_Forwarded_Ssl', 'off',
    'X-Forwarded-For', 'stale']), { view: trusted, cookie: '', sessionId: undefined })
  t.same(out, ['X-Forwarded-Ssl', 'on', 'X-Real-IP', '1.2.3.4', 'Forwarded', 'for=1.2.3.4',
    'x-forwarded-for', '10.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'h:80'])
})

t.test('request: fields that merely contain underscores or look alike pass', async (t) => {
  const out = upstreamRequestHeaders(request(['X_Custom_Id', '1', 'Podsidecar', '2', 'X-Forwardedness', '3']), { view, cookie: '', sessionId: undefined })
  t.same(names(out).slice(0, 3), ['X_Custom_Id', 'Podsidecar', 'X-Forwardedness'])
})

t.test('request: a dotted spelling of a Podside- or forwarding field is dropped too (PHP folds `.` into `_`)', async (t) => {
  const out = upstreamRequestHeaders(request(['Podside.Session.Id', 'forged', 'Podside.Session.User', 'admin', 'X.Forwarded.Ssl', 'on',
    'X.Real.IP', '1.2.3.4', 'Accept', 'a']), { view: { ...view, trusted: true }, cookie: '', sessionId: undefined })
  t.same(names(out), ['Accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])
})
