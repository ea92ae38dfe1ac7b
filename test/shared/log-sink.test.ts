import { Writable } from 'node:stream'
import t from 'tap'
import { createLogSink, LOG_SINK_DEFAULTS } from '../../shared/log-sink.js'
import { waitFor } from '../helpers/ports.js'

/** A stdout whose reader can stall: while stalled, every write's callback is held, so its queue grows. */
function stdout () {
  const chunks: string[] = []
  const held: Array<() => void> = []
  let stalled = false
  const target = new Writable({
    highWaterMark: 1024,
    decodeStrings: false,
    write (chunk, _enc, cb) {
      chunks.push(String(chunk))
      if (stalled) held.push(cb)
      else cb()
    }
  })
  return {
    target,
    lines: () => chunks.join('').split('\n').filter((l) => l !== ''),
    stall () { stalled = true },
    resume () {
      stalled = false
      while (held.length > 0) held.shift()!()
    }
  }
}

const warning = (n: number): string => `{"dropped":${n}}\n`
const line = (i: number): string => `{"i":${i},"pad":"${'x'.repeat(40)}"}\n` // ~55 characters

t.test('lines reach stdout a batch at a time, and all of them on flush()', async (t) => {
  const out = stdout()
  const sink = createLogSink({ target: out.target, warning, batchBytes: 200, flushMs: 60_000 })
  sink.batch(line(1))
  sink.batch(line(2))
  t.same(out.lines(), [], 'under a batch: still buffered')
  sink.batch(line(3))
  sink.batch(line(4))
  t.equal(out.lines().length, 4, 'a full batch goes out at once, in one write')
  sink.batch(line(5))
  sink.flush()
  t.equal(out.lines().length, 5)
  let called = false
  sink.flush(() => { called = true })
  t.ok(called, 'flush(cb) calls back (pino\'s logger.flush)')
  t.equal(sink.dropped, 0)
  t.equal(await sink.end(1000), true)
})

t.test('other lines (pino\'s warnings, errors) go out at the end of the turn, with the access lines batched before them', async (t) => {
  const out = stdout()
  const sink = createLogSink({ target: out.target, warning, flushMs: 60_000 })
  sink.batch(line(1))
  sink.write('{"msg":"warning"}\n')
  t.same(out.lines(), [], 'not within the turn')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(out.lines().map((l) => JSON.parse(l)), [JSON.parse(line(1)), { msg: 'warning' }], 'in order, without waiting for flushMs')
  sink.batch(line(2))
  sink.write('x'.repeat(20_000) + '\n')
  t.equal(out.lines().length, 4, 'a full batch goes at once either way')
})

t.test('a partial batch is written flushMs after its first line, without a flush()', async (t) => {
  const out = stdout()
  const sink = createLogSink({ target: out.target, warning, flushMs: 1 })
  sink.batch(line(1))
  await waitFor('the timed flush', () => out.lines().length === 1 ? true : undefined)
  t.same(JSON.parse(out.lines()[0]), JSON.parse(line(1)))
})

t.test('a stalled reader: pending lines stay within maxPendingBytes, the rest are dropped and counted', async (t) => {
  const out = stdout()
  const sink = createLogSink({ target: out.target, warning, maxPendingBytes: 1000, batchBytes: 100, flushMs: 60_000 })
  out.stall()
  let kept = 0
  for (let i = 0; i < 100; i++) if (sink.batch(line(i))) kept++
  t.ok(kept > 0 && kept < 100, `${kept} kept`)
  t.equal(sink.dropped, 100 - kept, 'every line not kept is counted')
  sink.flush()
  t.ok(out.target.writableLength <= 1000, `pending ${out.target.writableLength} characters, within the bound`)
  t.equal(out.lines().filter((l) => l.includes('dropped')).length, 0, 'no warning while stalled')

  out.resume()
  await waitFor('the warning', () => out.lines().find((l) => l.includes('dropped')))
  const warnings = out.lines().filter((l) => l.includes('dropped'))
  t.same(warnings.map((l) => JSON.parse(l)), [{ dropped: 100 - kept }], 'exactly one warning, with the count')
  sink.batch(line(1000))
  sink.flush()
  t.match(out.lines().at(-1), /"i":1000/, 'lines are written again')
  out.stall()
  for (let i = 0; i < 100; i++) sink.batch(line(i))
  out.resume()
  await waitFor('a second warning', () => out.lines().filter((l) => l.includes('dropped')).length === 2 ? true : undefined)
  t.equal(JSON.parse(out.lines().filter((l) => l.includes('dropped'))[1]).dropped, sink.dropped - (100 - kept),
    'a later stall gets its own warning, counting only its own drops')
  t.equal(await sink.end(1000), true)
})

t.test('end() waits for stdout to take everything, and gives up after its timeout when the reader is stalled', async (t) => {
  const out = stdout()
  const sink = createLogSink({ target: out.target, warning, flushMs: 60_000 })
  t.equal(await sink.end(10), true, 'nothing pending')
  out.stall()
  sink.batch(line(1))
  t.equal(await sink.end(10), false, 'stalled: false after the timeout')
  const ended = sink.end(60_000)
  out.resume()
  t.equal(await ended, true, 'resolves as soon as the last batch is written')
  t.equal(out.lines().length, 1)
})

t.test('a reader that went away (EPIPE) does not end the process: lines are dropped and counted', async (t) => {
  const out = stdout()
  const sink = createLogSink({ target: out.target, warning, flushMs: 60_000 })
  out.stall()
  sink.batch(line(1))
  sink.flush()
  out.target.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(sink.batch(line(2)), false)
  t.equal(sink.write(line(3)), false)
  t.equal(sink.dropped, 2)
  sink.flush()
  t.equal(await sink.end(1000), false, 'end() reports what could not be written')
})

t.test('the defaults state their bound', async (t) => {
  t.equal(LOG_SINK_DEFAULTS.maxPendingBytes, 8 * 1024 * 1024)
  t.ok(LOG_SINK_DEFAULTS.batchBytes < LOG_SINK_DEFAULTS.maxPendingBytes)
})
