import { EventEmitter } from 'node:events'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { request } from 'undici'
import { createAccessLog, withoutQuery, type AccessEntry } from '../../shared/access-log.js'
import { byStatus } from '../../shared/metrics.js'
import { capturingLogger } from '../helpers/log.js'
import { serve } from '../helpers/processes.js'
import { waitFor } from '../helpers/ports.js'

function metrics () {
  const registry = new Registry()
  const requests = new Counter({ name: 'requests_total', help: 'h', labelNames: ['status'], registers: [registry] })
  const duration = new Histogram({ name: 'request_seconds', help: 'h', buckets: [1], registers: [registry] })
  return { registry, count: byStatus(requests), duration }
}

const fileproxyTail = (e: AccessEntry): string => `,"requestId":"${e.requestId}","source":"${e.state}"`
const gatewayTail = (e: AccessEntry): string => `,"requestId":"${e.requestId}","session":"${e.state}","aborted":${!e.finished}`

/** A request/response pair without a socket, for what the line does with odd targets. */
function fake (method: string, url: string, status = 200) {
  const res = Object.assign(new EventEmitter(), { headersSent: true, statusCode: status })
  return { req: { method, url } as IncomingMessage, res: res as unknown as ServerResponse }
}

t.test('the hand-built line is the line pino wrote for the same fields: same keys, same order, same values', async (t) => {
  const { log, lines } = capturingLogger()
  const m = metrics()
  const access = createAccessLog({ log, count: m.count, duration: m.duration, tail: gatewayTail, trackFinish: true })
  const { req, res } = fake('GET', '/account?reset=tok')
  const entry = access.start(req, res, 7, 'lb-1', 'none')
  entry.state = 'loaded'
  res.emit('finish')
  res.emit('close')
  log.info({ reqId: 7, method: 'GET', path: '/account', status: 200, ms: lines[0].ms, requestId: 'lb-1', session: 'loaded', aborted: false }, 'request')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(lines.length, 2)
  const [ours, pinos] = lines
  t.same(Object.keys(ours), Object.keys(pinos), 'keys in pino\'s order')
  t.same({ ...ours, time: 0 }, { ...pinos, time: 0 })
  t.same(Object.keys(ours), ['level', 'time', 'name', 'pid', 'reqId', 'method', 'path', 'status', 'ms', 'requestId', 'session', 'aborted', 'msg'],
    'the shape README documents')
  t.type(ours.ms, 'number')
})

t.test('paths a client chose are escaped: the line parses back to the path without its query', async (t) => {
  const { log, lines } = capturingLogger()
  const m = metrics()
  const access = createAccessLog({ log, count: m.count, duration: m.duration, tail: fileproxyTail })
  const odd = ['/a"b\\c', '/ünïcode/☃', '/tab\there', '/\u0000nul', '/end"}', '']
  for (const path of odd) {
    const { req, res } = fake('GET', `${path}?sig="x"`)
    access.start(req, res, 1, 'id', 'hit')
    res.emit('close')
  }
  t.same(lines.map((l) => l.path), odd)
  const { req, res } = fake(undefined as unknown as string, undefined as unknown as string)
  access.start(req, res, 2, 'id', 'none')
  res.emit('close')
  t.match(lines.at(-1), { method: '', path: '' }, 'no method or url at all (a response without its parsed request)')
})

t.test('over HTTP: one line per request, no query, no cookie or authorization value; 499 when the client left first', async (t) => {
  const { log, lines } = capturingLogger()
  const m = metrics()
  const access = createAccessLog({ log, count: m.count, duration: m.duration, tail: gatewayTail, trackFinish: true })
  let seq = 0
  const app = await serve(http.createServer((req, res) => {
    const entry = access.start(req, res, ++seq, `r${seq}`, 'none')
    if (req.url?.startsWith('/hang') === true) return // never answers: the client gives up
    entry.state = 'created'
    res.end('ok')
  }))
  t.teardown(app.close)
  const res = await request(`${app.url}/login?password=hunter2`, { headers: { cookie: 'sid=s3cret', authorization: 'Bearer t0ken' } })
  await res.body.text()
  const line = await waitFor('the access line', () => lines.find((l) => l.path === '/login'))
  t.match(line, { reqId: 1, method: 'GET', status: 200, requestId: 'r1', session: 'created', aborted: false, msg: 'request' })
  t.notMatch(JSON.stringify(lines), /hunter2|s3cret|t0ken/, 'no query, cookie or authorization value')

  const sock = net.connect(new URL(app.url).port as unknown as number, '127.0.0.1')
  sock.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n')
  await waitFor('the request to arrive', () => seq === 2 ? true : undefined)
  sock.destroy()
  const left = await waitFor('the 499 line', () => lines.find((l) => l.path === '/hang'))
  t.match(left, { status: 499, aborted: true, session: 'none' })
  t.match(await m.registry.metrics(), /requests_total\{status="499"\} 1/)
})

t.test('above info (--log-level warn) no line is written, but the request is still counted and timed', async (t) => {
  const { log, lines } = capturingLogger('warn')
  const m = metrics()
  const access = createAccessLog({ log, count: m.count, duration: m.duration, tail: fileproxyTail })
  const { req, res } = fake('HEAD', '/x', 304)
  access.start(req, res, 1, 'id', 'hit')
  res.emit('close')
  t.equal(lines.length, 0)
  const text = await m.registry.metrics()
  t.match(text, /requests_total\{status="304"\} 1/)
  t.match(text, /request_seconds_count 1/)
})

t.test('withoutQuery cuts at the first ?', async (t) => {
  t.equal(withoutQuery('/a?b?c'), '/a')
  t.equal(withoutQuery('/a'), '/a')
})
