import type { Readable } from 'node:stream'
import { Redis } from 'ioredis'
import type { Logger } from './logger.js'
import { closeRedis, createRedisClient, type RedisClient } from './redis-client.js'
import type { RedisTarget } from './redis-url.js'

export interface ChannelSubscriber {
  /** Subscribed now: messages published from here on arrive. */
  readonly ready: boolean
  /**
   * Resolves once every message Redis published before this call has arrived: a PING on the
   * subscribed connection is answered after the messages already queued for it.
   */
  sync (): Promise<void>
  close (): Promise<void>
}

export interface ChannelSubscriberOptions {
  channel: string
  timeoutMs: number
  log: Logger
  onMessage: (text: string) => void
  /** `again`: an earlier subscription was lost, so messages published meanwhile were missed. */
  onSubscribed?: (again: boolean) => void
  /** The connection dropped: from now until `onSubscribed`, messages are being missed. */
  onLost?: () => void
  /** Read one chunk of messages per event-loop turn (see paceReads); off by default. */
  paced?: boolean
}

/**
 * Listens on one pub/sub channel over a connection of its own (a subscribed connection cannot run
 * other commands). Classic SUBSCRIBE: a Redis Cluster broadcasts PUBLISH to every node. Pub/sub
 * keeps nothing for an absent listener, so callers learn when the subscription is lost and back,
 * and drop what the missed messages would have changed (the fileproxy's cache, the gateway's
 * session cache).
 */
export function createChannelSubscriber (target: RedisTarget, opts: ChannelSubscriberOptions): ChannelSubscriber {
  const client: RedisClient = createRedisClient(target, { role: 'subscriber', timeoutMs: opts.timeoutMs, log: opts.log })
  let subscribed = false
  let everSubscribed = false
  let closing = false
  const subscribe = (): void => {
    client.subscribe(opts.channel).then(() => {
      subscribed = true
      opts.onSubscribed?.(everSubscribed)
      everSubscribed = true
      opts.log.info({ channel: opts.channel }, 'subscribed')
    }, (err: unknown) => opts.log.warn({ err, channel: opts.channel }, 'subscribe failed; retrying on reconnect'))
  }
  // ioredis would resubscribe by itself; we do it ourselves to know when it happened.
  client.on('ready', subscribe)
  if (opts.paced === true && client instanceof Redis) client.on('connect', () => paceReads(client.stream))
  client.on('close', () => {
    if (subscribed && !closing) opts.onLost?.()
    subscribed = false
  })
  client.on('message', (channel: string, message: string) => { if (channel === opts.channel) opts.onMessage(message) })
  return {
    get ready () { return subscribed },
    async sync () { await client.ping() },
    async close () {
      closing = true
      await closeRedis(client)
    }
  }
}

/**
 * One chunk of the subscribed connection per turn of the event loop. libuv reads up to 32 chunks
 * of 64 KiB per wake-up, and ioredis parses each and emits its messages at once: a burst of small
 * messages (20,000 purges) then held the loop for 140 ms however little each listener did. Pausing
 * after a chunk stops the reads (Node stops once its buffer is full) until the next turn, after
 * other sockets had theirs. (A Cluster's subscriber connection is internal to ioredis: not paced.)
 */
const paced = new WeakSet<Readable>()
function paceReads (stream: Readable): void {
  if (paced.has(stream)) return
  paced.add(stream)
  stream.on('data', () => {
    if (stream.isPaused()) return
    stream.pause()
    setImmediate(() => { if (!stream.destroyed) stream.resume() })
  })
}
