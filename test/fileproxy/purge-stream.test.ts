import t from 'tap'
import { Redis } from 'ioredis'
import { acknowledge, acksKey, appendPurge, canReplay, compareEntryIds, logKey, logState, maxEntryId, readAcks, readAfter, trimLog } from '../../fileproxy/purge-stream.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/ports.js'

/** fileproxy/purge-stream.ts against a real redis-server: the purge log, its script, the acks. */
const redis = await startRedis()
const client = redis.client()
t.teardown(async () => await stopRedis(redis))
let seq = 0
const fresh = (): string => `test:stream:${++seq}`

t.test('entry ids: ordered by time, then sequence, as numbers (not as text)', async (t) => {
  t.equal(compareEntryIds('5-0', '10-0'), -1, '5 ms is older than 10 ms, though "5" sorts after "10" as text')
  t.equal(compareEntryIds('10-2', '10-10'), -1)
  t.equal(compareEntryIds('10-3', '10-3'), 0)
  t.equal(compareEntryIds('11-0', '10-9'), 1)
  t.equal(maxEntryId(undefined, '1-0'), '1-0')
  t.equal(maxEntryId('2-0', undefined), '2-0')
  t.equal(maxEntryId('2-0', '1-5'), '2-0')
  t.equal(maxEntryId('2-0', '2-1'), '2-1')
})

t.test('appendPurge: each message is appended and published with its entry id first, in order', async (t) => {
  const channel = fresh()
  const sub = new Redis({ port: redis.port, host: '127.0.0.1' })
  t.teardown(() => sub.disconnect())
  const got: string[] = []
  sub.on('message', (_c: string, m: string) => got.push(m))
  await sub.subscribe(channel)
  const { received, entries } = await appendPurge(client, channel, ['{"id":"a","paths":["/x"]}', '{"id":"a","paths":["/y"]}'], 1000)
  t.equal(received, 1, 'the subscribers of the last message')
  t.equal(entries.length, 2)
  t.equal(compareEntryIds(entries[0], entries[1]), -1)
  await waitFor('both messages', () => got.length === 2 ? true : undefined)
  t.same(got.map((m) => JSON.parse(m)), [{ log: entries[0], id: 'a', paths: ['/x'] }, { log: entries[1], id: 'a', paths: ['/y'] }])
  t.same(await readAfter(client, channel, '0-0', 10), entries.map((e, i) => [e, got[i]]), 'the log holds exactly what was published')
  t.same(await readAfter(client, channel, entries[0], 10), [[entries[1], got[1]]], 'after an entry: exclusive')
})

t.test('appendPurge: the length bound trims the oldest entries, and the log says it did', async (t) => {
  const channel = fresh()
  const messages = Array.from({ length: 300 }, (_, i) => `{"id":"${i}","paths":["/${i}"]}`)
  const { entries } = await appendPurge(client, channel, messages, 10)
  const state = await logState(client, channel)
  t.ok(state !== undefined)
  t.equal(state?.lastEntry, entries[299])
  t.ok(await client.xlen(logKey(channel)) < 300, 'trimmed (by whole nodes: "~")')
  t.equal(compareEntryIds(state!.firstEntry!, entries[0]), 1, 'the oldest entries are gone')
  t.notOk(canReplay(state!, entries[0]), 'a reader at the first entry cannot catch up: entries after it were trimmed')
  t.ok(canReplay(state!, state!.firstEntry!), 'a reader at the oldest entry held can')
  t.ok(canReplay(state!, entries[299]), 'so can one at the newest')
})

t.test('logState: undefined for a log that does not exist; 0-0 deleted for a fresh one', async (t) => {
  const channel = fresh()
  t.equal(await logState(client, channel), undefined)
  const { entries } = await appendPurge(client, channel, ['{"all":true}'], 1000)
  t.same(await logState(client, channel), { lastEntry: entries[0], firstEntry: entries[0], trimmed: false })
  t.ok(canReplay({ lastEntry: entries[0], firstEntry: entries[0], trimmed: false }, '0-0'), 'a reader that started from no log, with nothing lost since')
  await client.xdel(logKey(channel), entries[0])
  t.same(await logState(client, channel), { lastEntry: entries[0], firstEntry: undefined, trimmed: true }, 'emptied, it still knows its newest entry')
  t.ok(canReplay({ lastEntry: entries[0], firstEntry: undefined, trimmed: true }, entries[0]), 'nothing was added after the watermark')
  t.notOk(canReplay({ lastEntry: entries[0], firstEntry: undefined, trimmed: true }, '1-0'), 'entries after the watermark were all trimmed')
  t.notOk(canReplay({ lastEntry: '9-0', firstEntry: '5-0', trimmed: true }, '0-0'), 'from no log, but the log lost entries since')
  t.ok(canReplay({ lastEntry: '5-0', firstEntry: '7-0', trimmed: false }, '9-0'), 'a log that lost its tail in a failover: nothing to replay')
})

t.test('logState: other errors are thrown', async (t) => {
  await client.set('wrong:log', 'a string')
  await t.rejects(logState(client, 'wrong'), /WRONGTYPE/)
})

t.test('trimLog: drops entries older than the time given, keeps newer ones', async (t) => {
  const channel = fresh()
  await client.xadd(logKey(channel), '1000-0', 'm', '{"all":true}')
  await client.xadd(logKey(channel), '2000-0', 'm', '{"all":true}')
  t.equal(await trimLog(client, channel, 1500), 0, 'with "~", nothing is trimmed inside a radix node')
  t.equal(await trimLog(client, channel, -5), 0, 'a negative time is 0')
  const many = fresh()
  for (let i = 1; i <= 300; i++) await client.xadd(logKey(many), `${i}-0`, 'm', '{"all":true}')
  t.ok(await trimLog(client, many, 250) > 0, 'whole nodes older than the time are trimmed')
  const state = await logState(client, many)
  t.ok(compareEntryIds(state!.firstEntry!, '250-0') <= 0, 'nothing newer than the time is')
  t.equal(state?.lastEntry, '300-0')
})

t.test('acknowledge: one field per node, the hash expires unless refreshed', async (t) => {
  const channel = fresh()
  await acknowledge(client, channel, 'node-a', '5-0', 60_000)
  await acknowledge(client, channel, 'node-b', '7-1', 60_000)
  await acknowledge(client, channel, 'node-a', '9-0', 60_000)
  t.same(await readAcks(client, channel), { 'node-a': '9-0', 'node-b': '7-1' })
  const ttl = await client.pttl(acksKey(channel))
  t.ok(ttl > 0 && ttl <= 60_000, 'expires')
  t.same(await readAcks(client, fresh()), {}, 'none yet')
})
