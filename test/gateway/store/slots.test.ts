import t from 'tap'
import { Redis } from 'ioredis'
import { startCluster } from '../../helpers/redis.js'
import { BUCKET_STRIDE, BUCKETS, bucketChannels, bucketOfId, bucketOfSlot, keySlot, SLOTS } from '../../../gateway/store/slots.js'
import { newSessionId } from '../../../gateway/session-cookie.js'

t.test('keySlot is CLUSTER KEYSLOT: hash tags, empty tags, non-ASCII', async (t) => {
  const cluster = await startCluster(3)
  t.teardown(async () => await cluster.close())
  const redis = new Redis({ port: cluster.ports[0], host: '127.0.0.1' })
  t.teardown(() => redis.disconnect())
  for (const key of ['foo', '{user1000}.following', 'podside:s:{abc}', 'a{}b', 'x{}{y}', '{}', 'caf\u00e9', 'k{\u00e9t\u00e9}', 'open{only', bucketChannels()[5]]) {
    t.equal(keySlot(key), Number(await redis.cluster('KEYSLOT', key)), key)
  }
})

t.test('every bucket has one channel, in its own slot, and slots are evenly spread', async (t) => {
  const channels = bucketChannels()
  t.equal(channels.length, BUCKETS)
  t.equal(BUCKETS * BUCKET_STRIDE, SLOTS)
  t.ok(channels.every((c, b) => keySlot(c) === b * BUCKET_STRIDE))
  t.equal(new Set(channels).size, BUCKETS)
  t.same(bucketChannels('other:').slice(0, 1), [channels[0].replace('podside:', 'other:')], 'the prefix is the store\'s')
  t.equal(bucketOfSlot(BUCKET_STRIDE * 7), 7)
  t.equal(bucketOfSlot(BUCKET_STRIDE * 7 + 1), -1)
})

t.test('new session ids all fall in bucket slots, and stay spread over every bucket', async (t) => {
  const seen = new Set<number>()
  for (let i = 0; i < 20_000; i++) {
    const b = bucketOfId(newSessionId())
    if (b === -1) { t.fail('an id outside the buckets'); return }
    seen.add(b)
  }
  t.ok(seen.size > BUCKETS * 0.99, `${seen.size} of ${BUCKETS} buckets used by 20,000 ids`)
})
