import t, { type Test } from 'tap'
import { createPurgeJournal, type PurgeJournalOptions } from '../../fileproxy/purge-journal.js'
import type { PurgeSpec } from '../../fileproxy/purge-message.js'
import { appendPurge, logKey, readAcks } from '../../fileproxy/purge-stream.js'
import { closeRedis, createRedisClient } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { capturingLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * fileproxy/purge-journal.ts against a real redis-server: the subscriber's events are driven by
 * hand (subscribed, lost, applied), the cache is a stand-in that records what it was told to drop.
 */
const redis = await startRedis()
const admin = redis.client()
t.teardown(async () => await stopRedis(redis))
let seq = 0

async function journal (t: Test, over: Partial<PurgeJournalOptions> & { cached?: number, via?: number } = {}) {
  const channel = `test:journal:${++seq}`
  const target = parseRedisUrl(`redis://127.0.0.1:${over.via ?? redis.port}`) as RedisTarget
  const { log, lines } = capturingLogger('debug')
  const client = createRedisClient(target, { role: 'command', timeoutMs: 500, log })
  const applied: PurgeSpec[] = []
  let drops = 0
  const j = createPurgeJournal({
    client,
    channel,
    nodeId: 'node-1',
    retentionMs: 3_600_000,
    apply: (spec) => { applied.push(spec); return spec.paths.length },
    dropAll: () => { drops++; return 7 },
    cachedEntries: () => over.cached ?? 0,
    log,
    maxMessageBytes: 64 * 1024,
    maxBackoffMs: 50,
    ...over
  })
  t.teardown(async () => { await j.close(); await closeRedis(client) })
  const publish = async (...paths: string[]) => (await appendPurge(admin, channel, paths.map((p) => JSON.stringify({ id: `id${p}`, paths: [p] })), 1000)).entries
  const caughtUp = async () => await waitFor('the catch-up', () => j.caughtUp ? true : undefined)
  return { j, channel, applied, drops: () => drops, lines, publish, caughtUp }
}

t.test('journal: the first subscription takes the log\'s newest entry as its watermark, replays nothing and drops nothing', async (t) => {
  const x = await journal(t)
  const [, second] = await x.publish('/old1', '/old2')
  t.equal(x.j.caughtUp, false, 'not before it subscribed')
  x.j.subscribed()
  t.equal(x.j.caughtUp, false, 'not while it reads the log')
  await x.caughtUp()
  t.equal(x.j.lastEntry, second)
  t.same(x.applied, [], 'purges from before its start are not its business: its cache was empty')
  t.equal(x.drops(), 0)
})

t.test('journal: without a log yet, the watermark is 0-0; each purge applied moves it and is acknowledged under the node id', async (t) => {
  const x = await journal(t)
  x.j.subscribed()
  await x.caughtUp()
  t.equal(x.j.lastEntry, '0-0')
  const [entry] = await x.publish('/a')
  x.j.applied({ id: 'deploy-1', log: entry, paths: ['/a'], prefixes: [], all: false })
  t.equal(x.j.lastEntry, entry)
  t.equal(x.j.lastPurgeId, 'deploy-1')
  await waitFor('the acknowledgement', async () => (await readAcks(admin, x.channel))['node-1'] === entry ? true : undefined)
  x.j.applied({ paths: ['/plain'], prefixes: [], all: false })
  t.equal(x.j.lastEntry, entry, 'a plain PUBLISH has no entry: the watermark stays')
  x.j.applied({ id: 'older', log: '1-0', paths: ['/a'], prefixes: [], all: false })
  t.equal(x.j.lastEntry, entry, 'never backwards')
  t.equal(x.j.lastPurgeId, 'deploy-1')
})

t.test('journal: a node that served files before it could read the log drops them at its first subscription', async (t) => {
  const x = await journal(t, { cached: 3 })
  x.j.subscribed()
  await x.caughtUp()
  t.equal(x.drops(), 1)
  t.match(x.lines.find((l) => l.reason !== undefined), { level: 40, dropped: 7, reason: /served files before/ })
})

t.test('journal: after a lost subscription, every purge published meanwhile is replayed in order, page by page, and the cache kept', async (t) => {
  const x = await journal(t, { pageSize: 2 })
  x.j.subscribed()
  await x.caughtUp()
  x.j.lost()
  t.equal(x.j.caughtUp, false)
  const entries = await x.publish('/1', '/2', '/3', '/4', '/5')
  x.j.subscribed()
  await x.caughtUp()
  t.same(x.applied.map((s) => s.paths), [['/1', '/2'], ['/3', '/4'], ['/5']], 'three pages of at most 2')
  t.equal(x.j.lastEntry, entries[4])
  t.equal(x.j.lastPurgeId, 'id/5')
  t.equal(x.drops(), 0, 'the rest of the cache is kept')
  t.match(x.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('purge subscription was lost')), { replayed: 5, dropped: 5 })
  await waitFor('the acknowledgement', async () => (await readAcks(admin, x.channel))['node-1'] === entries[4] ? true : undefined)
  x.j.lost()
  x.j.subscribed()
  await x.caughtUp()
  t.equal(x.applied.length, 3, 'nothing new: nothing replayed')
})

t.test('journal: purges applied from the channel during the catch-up wait for it before they move the watermark', async (t) => {
  const x = await journal(t)
  x.j.subscribed()
  await x.caughtUp()
  x.j.lost()
  await x.publish('/missed')
  x.j.subscribed()
  const [live] = await x.publish('/live')
  x.j.applied({ id: 'id/live', log: live, paths: ['/live'], prefixes: [], all: false })
  t.not(x.j.lastEntry, live, 'not past /missed before it was read')
  await x.caughtUp()
  t.same(x.applied.flatMap((s) => s.paths).includes('/missed'), true)
  t.equal(x.j.lastEntry, live)
  t.equal(x.j.lastPurgeId, 'id/live')
})

t.test('journal: a gap older than the log keeps (trimmed) drops the whole cache, once, and starts from the log\'s newest entry', async (t) => {
  const x = await journal(t)
  await x.publish('/before')
  x.j.subscribed()
  await x.caughtUp()
  x.j.lost()
  const entries = await x.publish('/a', '/b', '/c')
  await admin.xtrim(logKey(x.channel), 'MAXLEN', 0)
  x.j.subscribed()
  await x.caughtUp()
  t.equal(x.drops(), 1)
  t.same(x.applied, [], 'nothing to replay: it is gone')
  t.equal(x.j.lastEntry, entries[2])
  t.match(x.lines.find((l) => l.reason !== undefined), { reason: /older than the purge log keeps/ })
})

t.test('journal: a log gone from Redis (restarted empty) drops the whole cache', async (t) => {
  const x = await journal(t)
  await x.publish('/a')
  x.j.subscribed()
  await x.caughtUp()
  x.j.lost()
  await admin.del(logKey(x.channel))
  x.j.subscribed()
  await x.caughtUp()
  t.equal(x.drops(), 1)
  t.equal(x.j.lastEntry, '0-0')
  t.match(x.lines.find((l) => l.reason !== undefined), { reason: /gone from Redis/ })
})

t.test('journal: while Redis cannot be read the catch-up is retried (warned once), and done once it can', async (t) => {
  const relay = await startTcpProxy(redis.port)
  t.teardown(async () => await relay.close())
  const x = await journal(t, { via: relay.port })
  relay.cut()
  x.j.subscribed()
  await waitFor('the warning', () => x.lines.find((l) => l.msg === 'cannot read the purge log yet; retrying'))
  t.equal(x.j.caughtUp, false)
  relay.restore()
  await x.caughtUp()
  t.equal(x.lines.filter((l) => l.msg === 'cannot read the purge log yet; retrying').length, 1)
})

t.test('journal: an acknowledgement that failed is written once Redis is back', async (t) => {
  const relay = await startTcpProxy(redis.port)
  t.teardown(async () => await relay.close())
  const x = await journal(t, { via: relay.port })
  x.j.subscribed()
  await x.caughtUp()
  const [entry] = await x.publish('/a')
  relay.cut()
  x.j.applied({ id: 'a', log: entry, paths: ['/a'], prefixes: [], all: false })
  await waitFor('the failure', () => x.lines.find((l) => l.msg === 'purge acknowledgement failed; retrying'))
  relay.restore()
  await waitFor('the acknowledgement', async () => (await readAcks(admin, x.channel))['node-1'] === entry ? true : undefined)
  t.pass()
})

t.test('journal: a lost subscription during the catch-up abandons it; the next one starts over', async (t) => {
  const x = await journal(t)
  x.j.subscribed()
  x.j.lost()
  t.equal(x.j.caughtUp, false)
  x.j.subscribed()
  await x.caughtUp()
  t.equal(x.j.lastEntry, '0-0')
})

t.test('journal: without a node id (no fleet) nothing is acknowledged', async (t) => {
  const x = await journal(t, { nodeId: undefined })
  x.j.subscribed()
  await x.caughtUp()
  const [entry] = await x.publish('/a')
  x.j.applied({ id: 'a', log: entry, paths: ['/a'], prefixes: [], all: false })
  t.equal(x.j.lastEntry, entry)
  t.same(await readAcks(admin, x.channel), {})
})

t.test('journal: the log is trimmed to --purge-log-retention by the node\'s clock', async (t) => {
  const x = await journal(t, { retentionMs: 1000, clock: () => Date.now() + 3_600_000 })
  for (let i = 0; i < 3; i++) await x.publish(...Array.from({ length: 100 }, (_, k) => `/${i}/${k}`))
  await waitFor('the trim', async () => await admin.xlen(logKey(x.channel)) < 300 ? true : undefined, 5000)
  t.pass('entries older than an hour ago (by that clock) are trimmed')
})

t.test('journal: a connection still on a replica (a demoted master after a failover) does not read the log until it is a master', async (t) => {
  const replica = await startRedis()
  t.teardown(async () => await stopRedis(replica))
  const ctl = replica.client()
  await ctl.replicaof('127.0.0.1', String(redis.port))
  const x = await journal(t, { via: replica.port })
  x.j.subscribed()
  await waitFor('the refusal', () => x.lines.find((l) => /replica/.test(String((l.err as { message?: string } | undefined)?.message))))
  t.equal(x.j.caughtUp, false)
  await ctl.replicaof('NO', 'ONE')
  await x.caughtUp()
  t.pass('read once it is a master')
})
