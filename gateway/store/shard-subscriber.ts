import type { Logger } from '../../shared/logger.js'
import type { ShardConnection, ShardConnectionOptions } from './shard-connection.js'

/** Slots `start`…`end` are served by the master at host:port (`CLUSTER SLOTS`). */
export interface SlotRange { start: number, end: number, host: string, port: number }

export interface ShardSubscriber {
  /** Whether the bucket's channel is subscribed now (its messages arrive). */
  live (bucket: number): boolean
  /**
   * Resolves once every message published on these buckets' channels (all: every channel) before
   * this call has arrived: a PING on each connection that holds one; none for a bucket not subscribed.
   */
  sync (buckets: number[] | 'all'): Promise<void>
  close (): Promise<void>
}

export interface ShardSubscriberOptions {
  /** The channel of each bucket (index = bucket), and the slot it lives in. */
  channels: string[]
  slotOf: (bucket: number) => number
  /** Who serves which slots now. */
  topology: () => Promise<SlotRange[]>
  connect: (opts: Pick<ShardConnectionOptions, 'host' | 'port' | 'onMessage' | 'onUnsubscribed' | 'onClose'>) => Promise<ShardConnection>
  log: Logger
  onMessage: (text: string) => void
  onSubscribed: (bucket: number) => void
  /** From now until `onSubscribed(bucket)`, the bucket's messages are being missed. */
  onLost: (bucket: number) => void
  /** Wait before trying again after the attempt-th failed round (ms). */
  retryMs?: (attempt: number) => number
}

/**
 * Keeps every bucket's shard channel subscribed on the master that serves its slot, one connection
 * per master. A subscription ends when its master's connection drops (failover, restart) or when
 * the master pushes `sunsubscribe` (its slot moved away, or it became a replica); the bucket is then
 * lost until subscribed again where `CLUSTER SLOTS` now says, tried again with backoff until it takes.
 * A live subscription is never moved on the word of `CLUSTER SLOTS` alone: only its master ends it.
 */
export function createShardSubscriber (opts: ShardSubscriberOptions): ShardSubscriber {
  const at: Array<ShardConnection | undefined> = new Array(opts.channels.length).fill(undefined)
  // Counted up by every loss: an SSUBSCRIBE answered before a loss it did not see is not trusted.
  const losses = new Array<number>(opts.channels.length).fill(0)
  const bucketOf = new Map(opts.channels.map((c, b) => [c, b]))
  const conns = new Map<string, ShardConnection>()
  const retryMs = opts.retryMs ?? ((n) => Math.min(100 * n, 2000))
  let running = false
  let again = false
  let closed = false
  let attempt = 0
  let retry: NodeJS.Timeout | undefined
  let complete = false
  // SSUBSCRIBE unknown (Redis before 7.0): the cache stays off; asking again would change nothing.
  let unsupported = false

  function lose (bucket: number): void {
    losses[bucket]++
    if (at[bucket] === undefined) return
    at[bucket] = undefined
    if (complete) opts.log.warn('session invalidations lost: the session cache is off until they are back')
    complete = false
    opts.onLost(bucket)
  }

  async function open (host: string, port: number): Promise<ShardConnection> {
    const key = `${host}:${port}`
    const known = conns.get(key)
    if (known?.open === true) return known
    const conn = await opts.connect({
      host, port,
      onMessage: (_channel, text) => opts.onMessage(text),
      onUnsubscribed (channel) {
        const bucket = bucketOf.get(channel)
        if (bucket !== undefined) lose(bucket)
        kick(0)
      },
      onClose () {
        if (conns.get(key) === conn) conns.delete(key)
        for (let b = 0; b < at.length; b++) if (at[b] === conn) lose(b)
        kick(0)
      }
    })
    if (closed) { conn.close(); throw new Error('closed') }
    conns.set(key, conn)
    return conn
  }

  async function round (): Promise<boolean> {
    const missing: number[] = []
    for (let b = 0; b < at.length; b++) if (at[b] === undefined) missing.push(b)
    if (missing.length === 0) return true
    const ranges = await opts.topology()
    const byOwner = new Map<string, { host: string, port: number, buckets: number[] }>()
    for (const b of missing) {
      const slot = opts.slotOf(b)
      const r = ranges.find((r) => r.start <= slot && slot <= r.end)
      if (r === undefined) continue
      const key = `${r.host}:${r.port}`
      const group = byOwner.get(key) ?? { host: r.host, port: r.port, buckets: [] }
      group.buckets.push(b)
      byOwner.set(key, group)
    }
    await Promise.all([...byOwner.values()].map(async (g) => {
      const conn = await open(g.host, g.port)
      await Promise.all(g.buckets.map(async (b) => {
        const before = losses[b]
        try {
          await conn.ssubscribe(opts.channels[b])
        } catch (err) {
          if (/unknown command/i.test((err as Error).message)) unsupported = true
          return // MOVED: the map was stale; next round
        }
        if (losses[b] !== before || conns.get(conn.key) !== conn || closed) return
        at[b] = conn
        opts.onSubscribed(b)
      }))
    }))
    // A master that serves none of our channels any more (all its slots moved away).
    for (const [key, conn] of conns) if (!at.includes(conn)) { conns.delete(key); conn.close() }
    return at.every((c) => c !== undefined)
  }

  async function reconcile (): Promise<void> {
    if (running) { again = true; return }
    running = true
    let done = false
    try {
      do {
        again = false
        done = await round()
      } while (again && !closed)
    } catch (err) {
      if (attempt === 0) opts.log.warn({ err }, 'shard channels: subscribing failed; retrying')
    } finally {
      running = false
    }
    if (closed) return
    if (unsupported) {
      opts.log.warn('the session cache stays off: this Redis Cluster has no sharded pub/sub (SSUBSCRIBE needs Redis 7.0 or later)')
      for (const conn of conns.values()) conn.close()
      conns.clear()
      return
    }
    if (done) {
      attempt = 0
      if (!complete) opts.log.info({ channels: at.length, masters: conns.size }, 'subscribed')
      complete = true
    } else {
      kick(retryMs(++attempt))
    }
  }

  function kick (delay: number): void {
    if (closed) return
    if (delay === 0 && running) { again = true; return }
    clearTimeout(retry)
    retry = setTimeout(() => { void reconcile() }, delay)
  }

  kick(0)
  return {
    live: (bucket) => at[bucket] !== undefined,
    async sync (buckets) {
      const held = new Set(buckets === 'all' ? conns.values() : buckets.map((b) => at[b]))
      await Promise.all([...held].map(async (conn) => await conn?.ping()))
    },
    async close () {
      closed = true
      clearTimeout(retry)
      for (const conn of conns.values()) conn.close()
      conns.clear()
    }
  }
}
