import type { Readable } from 'node:stream'
import type { Redis } from 'ioredis'
import type { Logger } from './logger.js'
import { clusterNodes } from './cluster-nodes.js'
import { closeRedis, createRedisClient } from './redis-client.js'
import type { HostPort, RedisTarget } from './redis-url.js'

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
  /** Cluster: subscribe on the master serving this key (default: the channel's own slot). */
  preferKey?: string
}

/**
 * Listens on one pub/sub channel over a connection of its own (a subscribed connection cannot run
 * other commands). Classic SUBSCRIBE: a Redis Cluster broadcasts PUBLISH to every node. Pub/sub
 * keeps nothing for an absent listener, so callers learn of every (re)subscription, however it
 * came about, and catch up (the fileproxy replays its purge log, the gateway drops its session
 * cache). ioredis' own resubscription is off: every SUBSCRIBE is ours, made on each `ready`.
 */
export function createChannelSubscriber (target: RedisTarget, opts: ChannelSubscriberOptions): ChannelSubscriber {
  let subscribed = false
  let everSubscribed = false
  let closing = false
  let client: Redis | undefined
  let cluster: { known: HostPort[], failures: number, timer?: NodeJS.Timeout } | undefined

  /** Wires one connection: SUBSCRIBE on each `ready`, the loss on `close`, the messages. */
  function attach (c: Redis): void {
    client = c
    c.on('ready', () => {
      c.subscribe(opts.channel).then(() => {
        if (c !== client || closing) return
        subscribed = true
        if (cluster !== undefined) cluster.failures = 0
        opts.onSubscribed?.(everSubscribed)
        everSubscribed = true
        opts.log.info({ channel: opts.channel }, 'subscribed')
      }, (err: unknown) => opts.log.warn({ err, channel: opts.channel }, 'subscribe failed; retrying on reconnect'))
    })
    if (opts.paced === true) c.on('connect', () => paceReads(c.stream))
    c.on('close', () => {
      if (c !== client) return
      if (subscribed && !closing) opts.onLost?.()
      subscribed = false
      if (cluster !== undefined && !closing) moveOn(c)
    })
    c.on('message', (channel: string, message: string) => { if (channel === opts.channel && c === client) opts.onMessage(message) })
  }

  /**
   * Cluster: ioredis' Cluster client keeps its subscriber connection to itself and re-subscribes
   * it on another node without a word (issue 18: a killed master, and no fileproxy noticed).
   * So the subscriber here is a plain connection to one node, chosen by us: the master serving
   * `opts.preferKey` (the purge log: a failure there needs a catch-up anyway), or, after a failed
   * try, the next node the Cluster lists. When it closes, another is chosen.
   */
  function moveOn (old: Redis): void {
    const c = cluster!
    client = undefined
    old.disconnect()
    c.failures++
    clearTimeout(c.timer)
    c.timer = setTimeout(() => { void pickClusterNode() }, Math.min(100 * c.failures, 2000))
    c.timer.unref()
  }
  async function pickClusterNode (): Promise<void> {
    if (closing || target.mode !== 'cluster') return
    const c = cluster!
    let candidates = c.known
    try {
      const found = await clusterNodes(target, [...c.known, ...target.nodes], opts.preferKey ?? opts.channel, opts.timeoutMs)
      if (found.all.length > 0) c.known = found.all
      const m = found.master
      candidates = m === undefined ? c.known : [m, ...c.known.filter((n) => n.host !== m.host || n.port !== m.port)]
    } catch { /* ask again after this try */ }
    if (closing) return
    const node = candidates[c.failures % candidates.length]
    const standalone: RedisTarget = { mode: 'standalone', host: node.host, port: node.port, db: 0, tls: target.tls, username: target.username, password: target.password, href: target.href }
    attach(createRedisClient(standalone, { role: 'subscriber', timeoutMs: opts.timeoutMs, log: opts.log }) as Redis)
  }

  if (target.mode === 'cluster') {
    cluster = { known: [...target.nodes], failures: 0 }
    void pickClusterNode()
  } else {
    attach(createRedisClient(target, { role: 'subscriber', timeoutMs: opts.timeoutMs, log: opts.log }) as Redis)
  }
  return {
    get ready () { return subscribed },
    async sync () { if (client !== undefined) await client.ping() },
    async close () {
      closing = true
      clearTimeout(cluster?.timer)
      if (client !== undefined) await closeRedis(client)
    }
  }
}

/**
 * One chunk of the subscribed connection per turn of the event loop. libuv reads up to 32 chunks
 * of 64 KiB per wake-up, and ioredis parses each and emits its messages at once: a burst of small
 * messages (20,000 purges) then held the loop for 140 ms however little each listener did. Pausing
 * after a chunk stops the reads (Node stops once its buffer is full) until the next turn, after
 * other sockets had theirs.
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
