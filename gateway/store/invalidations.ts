import type { Cluster } from 'ioredis'
import { createChannelSubscriber } from '../../shared/channel-subscriber.js'
import { atMost } from '../../shared/deadline.js'
import type { Logger } from '../../shared/logger.js'
import type { RedisTarget } from '../../shared/redis-url.js'
import { idOfSessionKey, invalidationChannel } from './redis.js'
import type { SessionCache } from './session-cache.js'
import { connectShard } from './shard-connection.js'
import { createShardSubscriber, type SlotRange } from './shard-subscriber.js'
import { BUCKET_STRIDE, bucketChannels, bucketOfId } from './slots.js'

/** What keeps a session cache live: the subscription to the invalidations, and the writer's wait. */
export interface Invalidations {
  /**
   * After this process changed these sessions: resolves (within `timeoutMs`) once Redis has sent
   * what the change published to every subscriber, so a redirect to another node finds it there.
   */
  announced (ids: string[]): Promise<void>
  close (): Promise<void>
}

export interface InvalidationOptions {
  target: RedisTarget
  timeoutMs: number
  log: Logger
}

const dropKey = (cache: SessionCache) => (key: string): void => {
  const id = idOfSessionKey(key)
  if (id !== undefined) cache.drop(id)
}

/** Standalone and Sentinel: one channel (`podside:sessions`); the cache is live while subscribed. */
export function channelInvalidations (cache: SessionCache, opts: InvalidationOptions): Invalidations {
  const subscriber = createChannelSubscriber(opts.target, {
    channel: invalidationChannel(),
    timeoutMs: opts.timeoutMs,
    log: opts.log,
    onMessage: dropKey(cache),
    onSubscribed: () => cache.setLive(true),
    onLost () {
      cache.setLive(false)
      opts.log.warn('session invalidations lost: the session cache is off until they are back')
    }
  })
  return {
    // A PING on the subscribed connection returns after the messages queued before it.
    announced: async () => { if (subscriber.ready) await atMost(subscriber.sync(), opts.timeoutMs) },
    close: async () => await subscriber.close()
  }
}

/**
 * Cluster: one shard channel per bucket of slots (slots.ts), subscribed on the master serving it;
 * each bucket's sessions are cached while its channel is subscribed. The cache must be made with
 * `parts` = buckets (see `clusterCacheParts`). `command` answers `CLUSTER SLOTS`.
 */
export function shardInvalidations (cache: SessionCache, command: Cluster, opts: InvalidationOptions): Invalidations {
  const { target } = opts
  const subscriber = createShardSubscriber({
    channels: bucketChannels(),
    slotOf: (b) => b * BUCKET_STRIDE,
    topology: async () => slotRanges(await command.cluster('SLOTS') as unknown[][]),
    connect: async (c) => await connectShard({
      ...c, username: target.username, password: target.password, tls: target.tls, timeoutMs: Math.max(opts.timeoutMs, 2000)
    }),
    log: opts.log,
    onMessage: dropKey(cache),
    onSubscribed: (b) => cache.setPartLive(b, true),
    onLost: (b) => cache.setPartLive(b, false)
  })
  cache.setLive(true)
  return {
    // The write ran on the master of the session's slot, where this node's subscription is; no
    // ids (log out everywhere): every master.
    announced: async (ids) => await atMost(subscriber.sync(ids.length === 0 ? 'all' : ids.map(bucketOfId)), opts.timeoutMs),
    close: async () => await subscriber.close()
  }
}

export const clusterCacheParts = { count: bucketChannels().length, of: bucketOfId }

/** `CLUSTER SLOTS` rows: [start, end, [host, port, id], …replicas]. */
export function slotRanges (rows: unknown[][]): SlotRange[] {
  return rows.map((r) => {
    const master = r[2] as [string, number]
    return { start: Number(r[0]), end: Number(r[1]), host: String(master[0]), port: Number(master[1]) }
  })
}

