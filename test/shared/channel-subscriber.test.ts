import t, { type Test } from 'tap'
import { createChannelSubscriber, type ChannelSubscriber } from '../../shared/channel-subscriber.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { capturingLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startRedis, stopRedis, type RedisServer } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * The subscriber against a real redis-server, reached directly or through a relay that can cut the
 * link; messages are published from a second, ordinary connection.
 */
const redis = await startRedis()
const publisher = redis.client()
t.teardown(async () => await stopRedis(redis))

let channelSeq = 0
function subscriber (t: Test, port: number, channel = `test:chan:${++channelSeq}`) {
  const { log, lines } = capturingLogger()
  const messages: string[] = []
  const events: string[] = []
  const sub: ChannelSubscriber = createChannelSubscriber(parseRedisUrl(`redis://127.0.0.1:${port}`) as RedisTarget, {
    channel,
    timeoutMs: 500,
    log,
    onMessage: (text) => messages.push(text),
    onSubscribed: (again) => events.push(again ? 'subscribed again' : 'subscribed'),
    onLost: () => events.push('lost')
  })
  t.teardown(async () => await sub.close())
  return { sub, channel, messages, events, lines }
}

const subscribedTimes = (events: string[]): number => events.filter((e) => e.startsWith('subscribed')).length

t.test('subscribes, calls onSubscribed(false) once, and receives what is published from then on', async (t) => {
  const s = subscriber(t, redis.port)
  t.equal(s.sub.ready, false, 'not subscribed before the connection is ready')
  await waitFor('the subscription', () => s.sub.ready ? true : undefined)
  t.same(s.events, ['subscribed'])
  t.match(s.lines.find((l) => l.msg === 'subscribed'), { channel: s.channel }, 'logged with the channel')
  t.equal(await publisher.publish(s.channel, 'one'), 1, 'Redis counts one subscriber')
  await publisher.publish(s.channel, 'two')
  await publisher.publish('some other channel', 'not for us')
  await s.sub.sync()
  t.same(s.messages, ['one', 'two'], 'in order, after sync(), and nothing from other channels')
})

t.test('sync() resolves only after every message published before it arrived', async (t) => {
  const s = subscriber(t, redis.port)
  await waitFor('the subscription', () => s.sub.ready ? true : undefined)
  const sent = Array.from({ length: 200 }, (_, i) => `m${i}`)
  await Promise.all(sent.map(async (m) => await publisher.publish(s.channel, m)))
  await s.sub.sync()
  t.same(s.messages, sent)
})

t.test('a link cut by a relay: onLost, not ready; once restored, onSubscribed(true) and messages flow again', async (t) => {
  const relay = await startTcpProxy(redis.port)
  t.teardown(async () => await relay.close())
  const s = subscriber(t, relay.port)
  await waitFor('the subscription', () => s.sub.ready ? true : undefined)
  relay.cut()
  await waitFor('the loss to be noticed', () => s.events.includes('lost') ? true : undefined)
  t.equal(s.sub.ready, false)
  t.equal(await publisher.publish(s.channel, 'missed'), 0, 'published while cut: nobody receives it')
  relay.restore()
  await waitFor('the subscription to come back', () => s.sub.ready ? true : undefined)
  t.same(s.events, ['subscribed', 'lost', 'subscribed again'])
  await publisher.publish(s.channel, 'after')
  await s.sub.sync()
  t.same(s.messages, ['after'], 'the missed message is gone (pub/sub keeps nothing), the next one arrives')
})

t.test('Redis restarted under it (a crash): lost, then subscribed again by itself', async (t) => {
  const own: RedisServer = await startRedis()
  t.teardown(async () => await stopRedis(own))
  const s = subscriber(t, own.port)
  await waitFor('the subscription', () => s.sub.ready ? true : undefined)
  await own.stop()
  await waitFor('the loss to be noticed', () => s.events.includes('lost') ? true : undefined)
  await own.start()
  await waitFor('the subscription to come back', () => subscribedTimes(s.events) === 2 ? true : undefined, 15_000)
  t.same(s.events, ['subscribed', 'lost', 'subscribed again'])
  const c = own.client()
  t.equal(await c.publish(s.channel, 'back'), 1)
  await s.sub.sync()
  t.same(s.messages, ['back'])
})

t.test('Redis down at start: not ready until it comes up, then onSubscribed(false), never onLost', async (t) => {
  const own: RedisServer = await startRedis()
  t.teardown(async () => await stopRedis(own))
  await own.stop()
  const s = subscriber(t, own.port)
  await waitFor('a reconnect attempt to be logged', () => s.lines.find((l) => l.msg === 'redis unreachable; reconnecting'))
  t.equal(s.sub.ready, false)
  await own.start()
  await waitFor('the subscription', () => s.sub.ready ? true : undefined, 15_000)
  t.same(s.events, ['subscribed'], 'the first subscription, not a lost one')
})

t.test('close() is not a loss: onLost is not called, and nothing arrives after it', async (t) => {
  const s = subscriber(t, redis.port)
  await waitFor('the subscription', () => s.sub.ready ? true : undefined)
  await s.sub.close()
  await waitFor('ready to turn false', () => s.sub.ready ? undefined : true, 3000)
  t.same(s.events, ['subscribed'])
  t.equal(await publisher.publish(s.channel, 'late'), 0, 'Redis has no subscriber left')
})

t.test('onSubscribed and onLost are optional', async (t) => {
  const { log } = capturingLogger()
  const got: string[] = []
  const channel = 'test:chan:optional'
  const sub = createChannelSubscriber(parseRedisUrl(redis.url) as RedisTarget, { channel, timeoutMs: 500, log, onMessage: (m) => got.push(m) })
  t.teardown(async () => await sub.close())
  await waitFor('the subscription', () => sub.ready ? true : undefined)
  await publisher.publish(channel, 'x')
  await sub.sync()
  t.same(got, ['x'])
})
