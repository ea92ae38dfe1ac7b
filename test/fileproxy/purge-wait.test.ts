import t from 'tap'
import { DEFAULT_WAIT_MS, expandWait, purgeMessages } from '../../fileproxy/purge-command.js'
import { parsePurgeMessage } from '../../fileproxy/purge-message.js'
import { acknowledge } from '../../fileproxy/purge-stream.js'
import { ackLines, nodeName, waitForAcks } from '../../fileproxy/purge-wait.js'
import { hasCode } from '../../shared/errors.js'
import { createFleetRegistry } from '../../shared/fleet/registry.js'
import { silentLogger } from '../helpers/log.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/** fileproxy/purge-wait.ts against a real redis-server, and the pure parts of purge-command.ts. */
const redis = await startRedis()
const client = redis.client()
t.teardown(async () => await stopRedis(redis))

t.test('expandWait: --wait alone (last, before a path or a flag) is 5 s; a word after it is its TIMEOUT', async (t) => {
  t.equal(DEFAULT_WAIT_MS, 5000)
  t.same(expandWait(['/a.png', '--wait']), ['/a.png', '--wait=5000ms'])
  t.same(expandWait(['--wait', '/a.png']), ['--wait=5000ms', '/a.png'])
  t.same(expandWait(['--wait', '--all']), ['--wait=5000ms', '--all'])
  t.same(expandWait(['--wait', '2s', '/a.png']), ['--wait', '2s', '/a.png'])
  t.same(expandWait(['--wait', 'abc', '/a.png']), ['--wait', 'abc', '/a.png'], 'a bad TIMEOUT is left for the settings to refuse')
  t.same(expandWait(['--wait=1s']), ['--wait=1s'])
})

t.test('purgeMessages: one message when it fits; 5,001 paths spread over messages under 64 KiB sharing the id, every path once', async (t) => {
  t.same(purgeMessages('x', { paths: ['/a'], prefixes: ['/b/'], all: false }), ['{"id":"x","paths":["/a"],"prefixes":["/b/"]}'])
  t.same(purgeMessages('x', { paths: [], prefixes: [], all: true }), ['{"id":"x","all":true}'])
  const paths = Array.from({ length: 5001 }, (_, i) => `/uploads/avatars/${String(i).padStart(6, '0')}.png`)
  const prefixes = ['/tmp/', '/cache/']
  const messages = purgeMessages('big', { paths, prefixes, all: false })
  t.ok(messages.length > 1, `${messages.length} messages`)
  const back = messages.map((m) => parsePurgeMessage(`{"log":"1795952678205-12",${m.slice(1)}`, 64 * 1024))
  for (const spec of back) {
    if (typeof spec === 'string') { t.fail(spec); continue }
    t.equal(spec.id, 'big')
  }
  const specs = back.filter((s) => typeof s !== 'string')
  t.same(specs.flatMap((s) => s.paths), paths, 'every path once, in order')
  t.same(specs.flatMap((s) => s.prefixes), prefixes)
  t.ok(messages.every((m) => Buffer.byteLength(m) <= 64 * 1024 - 64), 'room left for the log entry id')
})

t.test('purgeMessages: a path too long for any message is FP_ERR_PURGE_TOO_LARGE, naming the limit', async (t) => {
  const huge = '/' + 'a'.repeat(70_000)
  t.throws(() => purgeMessages('x', { paths: [huge], prefixes: [], all: false }), { code: 'FP_ERR_PURGE_TOO_LARGE', message: /65472 bytes at most/ })
  t.throws(() => purgeMessages('x', { paths: ['/a', huge], prefixes: [], all: false }), { code: 'FP_ERR_PURGE_TOO_LARGE' }, 'also after a first part')
  try { purgeMessages('x', { paths: [huge], prefixes: [], all: false }) } catch (err) { t.ok(hasCode(err, 'FP_ERR_PURGE_TOO_LARGE')) }
})

t.test('waitForAcks: every live file proxy of the fleet, gateways left out; an ack at or after the entry counts; the rest are named', async (t) => {
  const channel = 'test:wait:1'
  const registry = (role: string) => createFleetRegistry({ client, role, log: silentLogger() })
  const [a, b, c, gw] = [registry('fileproxy'), registry('fileproxy'), registry('fileproxy'), registry('gateway')]
  t.teardown(async () => { for (const r of [a, b, c, gw]) await r.stop() })
  for (const [i, r] of [a, b, c, gw].entries()) { r.start({ url: `http://127.0.0.1:${8000 + i}`, adminUrl: `http://127.0.0.1:${9000 + i}` }); await r.beat() }
  await acknowledge(client, channel, a.id, '100-0', 60_000)
  await acknowledge(client, channel, b.id, '100-5', 60_000)
  await acknowledge(client, channel, c.id, '99-9', 60_000)
  let now = 0
  const acks = await waitForAcks(client, channel, '100-0', { timeoutMs: 50, pollMs: 1, clock: () => (now += 10) })
  t.same(acks.map((x) => x.node.id).sort(), [a.id, b.id, c.id].sort(), 'the file proxies only')
  t.same(Object.fromEntries(acks.map((x) => [x.node.id, x.ms])), { [a.id]: 10, [b.id]: 10, [c.id]: undefined }, 'c is behind')
  const lines = ackLines(acks)
  t.match(lines, new RegExp(`^${a.id} \\(.+, http://127\\.0\\.0\\.1:8000\\) acknowledged in 10 ms$`, 'm'))
  t.match(lines, new RegExp(`^${c.id} \\(.+, http://127\\.0\\.0\\.1:8002\\) did not acknowledge$`, 'm'))
  t.equal(lines.split('\n').length, 4, 'one line per node')
  t.match(nodeName({ ...acks[0].node, hostname: null, url: null }), /\(\?, \?\)$/)
})

t.test('waitForAcks: returns as soon as all acknowledged, with the time each was seen', async (t) => {
  const channel = 'test:wait:2'
  const r = createFleetRegistry({ client, role: 'fileproxy', log: silentLogger() })
  t.teardown(async () => await r.stop())
  r.start({ url: 'http://127.0.0.1:1', adminUrl: 'http://127.0.0.1:2' })
  await r.beat()
  let now = 0
  let polls = 0
  const acks = await waitForAcks(client, channel, '5-0', {
    timeoutMs: 60_000,
    pollMs: 1,
    clock: () => {
      now += 5
      if (++polls === 3) void acknowledge(client, channel, r.id, '5-0', 60_000)
      return now
    }
  })
  t.equal(acks.length, 1)
  t.ok(acks[0].ms !== undefined && acks[0].ms > 0)
})

t.test('waitForAcks: no live file proxy: an empty answer at once', async (t) => {
  const other = await startRedis()
  t.teardown(async () => await stopRedis(other))
  t.same(await waitForAcks(other.client(), 'c', '1-0', { timeoutMs: 10_000 }), [])
})

t.test('waitForAcks: a Redis that stops answering ends the wait at its timeout instead of holding `podside purge --wait` forever', async (t) => {
  // A client without a command timeout, as a Cluster client is for a command queued while its
  // slot map is refreshed: only the wait's own deadline can end it (a CLI once hung for minutes).
  const silent = redis.client()
  t.teardown(() => silent.disconnect())
  await silent.ping()
  let paused = false
  const wallClock = (): number => { if (!paused) { paused = true; void redis.pause() } return Date.now() }
  try {
    await t.rejects(waitForAcks(silent, 'test:wait:stalled', '1-0', { timeoutMs: 300, wallClock }), { message: /did not answer in time/ })
  } finally {
    await redis.resume()
  }
})
