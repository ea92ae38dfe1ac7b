import type { Logger } from '../shared/logger.js'
import { closeRedis, createRedisClient, type RedisClient } from '../shared/redis-client.js'
import type { RedisTarget } from '../shared/redis-url.js'

export interface PurgeSubscriber {
  readonly ready: boolean
  close (): Promise<void>
}

/**
 * Listens on the purge channel over a connection of its own (a subscribed connection cannot run
 * other commands). Classic SUBSCRIBE: a Redis Cluster broadcasts PUBLISH to every node. When the
 * subscription comes back after a drop, purges may have been missed: `onResubscribed` lets the
 * caller drop its whole cache.
 */
export function createPurgeSubscriber (target: RedisTarget, opts: {
  channel: string
  timeoutMs: number
  log: Logger
  onMessage: (text: string) => void
  onResubscribed: () => void
}): PurgeSubscriber {
  const client: RedisClient = createRedisClient(target, { role: 'subscriber', timeoutMs: opts.timeoutMs, log: opts.log })
  let subscribed = false
  let everSubscribed = false
  const subscribe = (): void => {
    client.subscribe(opts.channel).then(() => {
      if (everSubscribed) opts.onResubscribed()
      subscribed = true
      everSubscribed = true
      opts.log.info({ channel: opts.channel }, 'subscribed to purge channel')
    }, (err: unknown) => opts.log.warn({ err, channel: opts.channel }, 'subscribe failed; retrying on reconnect'))
  }
  // ioredis would resubscribe by itself; we do it ourselves to know when it happened.
  client.on('ready', subscribe)
  client.on('close', () => { subscribed = false })
  client.on('message', (channel: string, message: string) => { if (channel === opts.channel) opts.onMessage(message) })
  return {
    get ready () { return subscribed },
    async close () { await closeRedis(client) }
  }
}
