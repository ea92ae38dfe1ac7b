import http from 'node:http'
import t from 'tap'
import { request } from 'undici'
import { requestIdOf } from '../../shared/request-id.js'
import { serve, startDaemon } from '../helpers/processes.js'
import { waitFor } from '../helpers/ports.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('a trusted X-Request-Id is kept when it is a short token; anything else gets a new UUID', async (t) => {
  t.equal(requestIdOf({ 'x-request-id': 'lb-1234:abc' }, true), 'lb-1234:abc')
  t.match(requestIdOf({ 'x-request-id': 'lb-1234' }, false), UUID, 'not trusted')
  t.match(requestIdOf({ 'x-request-id': 'has space' }, true), UUID)
  t.match(requestIdOf({ 'x-request-id': 'x'.repeat(129) }, true), UUID)
  t.match(requestIdOf({}, true), UUID)
  t.not(requestIdOf({}, false), requestIdOf({}, false))
})

t.test('the gateway gives the app a request id and traceparent, and logs the id on the access line', async (t) => {
  const seen: http.IncomingHttpHeaders[] = []
  const app = await serve(http.createServer((req, res) => { seen.push(req.headers); res.end('ok') }))
  const plain = await startDaemon('gateway', ['--upstream', app.url])
  const trusting = await startDaemon('gateway', ['--upstream', app.url, '--trust-proxy'])
  t.teardown(async () => { await plain.stop(); await trusting.stop(); await app.close() })
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  for (const gw of [plain, trusting]) {
    const res = await request(gw.url, { headers: { 'x-request-id': 'from-the-lb-42', traceparent } })
    await res.body.text()
  }
  t.match(seen[0]['x-request-id'], UUID, 'untrusted: the client\'s id is replaced')
  t.equal(seen[1]['x-request-id'], 'from-the-lb-42', 'behind --trust-proxy: the proxy\'s id is kept')
  t.equal(seen[0].traceparent, traceparent)
  const line = await waitFor('the access line', () => plain.lines.find((l) => l.msg === 'request'))
  t.equal(line.requestId, seen[0]['x-request-id'])
})
