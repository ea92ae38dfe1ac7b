import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../../gateway/headers.js'

const view = { url: { host: 'h', path: '/', secure: false }, proto: 'http' as const, host: 'h:80', forwardedFor: '10.0.0.1', site: 'same-site' as const }

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
