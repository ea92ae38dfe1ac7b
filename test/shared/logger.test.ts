import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger, lazyChild, sinkOf, stdoutSink, streamOf } from '../../shared/logger.js'
import { capturingLogger } from '../helpers/log.js'

t.test('lazyChild makes the child on first use, with its bindings, and redaction still applies', async (t) => {
  const { log, lines } = capturingLogger()
  let made = 0
  const child = log.child.bind(log)
  log.child = ((...args: Parameters<typeof log.child>) => { made++; return child(...args) }) as typeof log.child
  const req = lazyChild(log, { reqId: 7 })
  t.equal(made, 0, 'nothing logged, no child made')
  req.warn({ headers: { cookie: 'sid=secret' } }, 'odd request')
  req.info('second line')
  t.equal(made, 1, 'one child, made once')
  await new Promise((resolve) => setImmediate(resolve))
  t.match(lines, [{ reqId: 7, msg: 'odd request', headers: { cookie: '[redacted]' } }, { reqId: 7, msg: 'second line' }])
  t.equal(req.isLevelEnabled('debug'), false, 'other logger methods work too')
})

t.test('stdoutSink: pino lines and access lines share one bounded sink; its warning is a pino-shaped line at warn', async (t) => {
  const chunks: string[] = []
  const held: Array<() => void> = []
  let stalled = false
  const target = new Writable({ write (chunk, _e, cb) { chunks.push(String(chunk)); if (stalled) held.push(cb); else cb() } })
  const sink = stdoutSink('gateway', target)
  const log = createLogger({ name: 'gateway', stream: sink })
  t.equal(sinkOf(log), sink, 'sinkOf finds it')
  t.equal(streamOf(log), sink)
  log.info('hello')
  await new Promise<void>((resolve) => log.flush(() => resolve()))
  t.match(JSON.parse(chunks.join('')), { level: 30, name: 'gateway', pid: process.pid, msg: 'hello' })
  stalled = true
  const big = 'x'.repeat(1024 * 1024)
  for (let i = 0; i < 12; i++) log.info({ big }, 'big')
  log.flush()
  t.ok(sink.dropped > 0, `${sink.dropped} dropped past the 8 MiB bound`)
  stalled = false
  while (held.length > 0) held.shift()!()
  await sink.end(10_000)
  const warning = chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)).find((l) => l.dropped !== undefined)
  t.match(warning, { level: 40, name: 'gateway', pid: process.pid, dropped: sink.dropped, msg: 'log lines dropped: stdout did not keep up' })
  t.type(warning.time, 'number')
})

t.test('sinkOf is undefined for a logger writing to a plain stream (tests, the demo)', async (t) => {
  const { log } = capturingLogger()
  t.equal(sinkOf(log), undefined)
})
