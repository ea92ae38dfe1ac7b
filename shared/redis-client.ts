import type { Socket } from 'node:net'
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis'
import { atMost } from './deadline.js'
import type { Logger } from './logger.js'
import type { RedisTarget } from './redis-url.js'

export type RedisClient = Redis | Cluster

export interface RedisClientOptions {
  /** `command`: the request path's connection (fails fast). `subscriber`: pub/sub only. */
  role: 'command' | 'subscriber'
  /** Longest a command may wait before it fails (ms); the request path never waits longer. */
  timeoutMs: number
  log: Logger
}

/**
 * One ioredis connection (or Cluster client) for a parsed address. The command connection has no
 * offline queue and no per-request retries: while Redis is away a command fails at once instead of
 * piling up (ioredis' defaults queue without bound and retry 20 times). Reconnection itself goes on
 * forever with a capped backoff, so the daemon recovers by itself when Redis returns.
 */
export function createRedisClient (target: RedisTarget, opts: RedisClientOptions): RedisClient {
  const command = opts.role === 'command'
  const base: RedisOptions = {
    username: target.username,
    password: target.password,
    tls: target.tls ? {} : undefined,
    connectionName: `podside-${opts.role}`,
    enableOfflineQueue: !command,
    maxRetriesPerRequest: command ? 0 : null,
    // A command that timed out was answered with an error: it must never run after that.
    autoResendUnfulfilledCommands: !command,
    commandTimeout: command ? opts.timeoutMs : undefined,
    connectTimeout: Math.max(opts.timeoutMs, 2000),
    retryStrategy: (times) => Math.min(100 * times, 2000),
    // The subscriber re-subscribes itself, to learn when a subscription was lost (missed messages).
    autoResubscribe: command,
    lazyConnect: false
  }
  let client: RedisClient
  switch (target.mode) {
    case 'standalone':
      client = new Redis({ ...base, host: target.host, port: target.port, db: target.db })
      break
    case 'sentinel':
      client = new Redis({
        ...base,
        sentinels: target.sentinels,
        name: target.masterName,
        db: target.db,
        sentinelPassword: target.sentinelPassword,
        sentinelUsername: target.sentinelUsername,
        enableTLSForSentinelMode: target.tls,
        // Follow a failover as soon as a Sentinel announces it (+switch-master) instead of waiting
        // for the old master to drop us: during a planned failover it keeps accepting writes.
        failoverDetector: true,
        sentinelRetryStrategy: (times) => Math.min(100 * times, 2000)
      })
      break
    case 'cluster': {
      const clusterOpts: ClusterOptions = {
        redisOptions: base,
        enableOfflineQueue: !command,
        scaleReads: 'master',
        maxRedirections: 8,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        slotsRefreshTimeout: Math.max(opts.timeoutMs, 1000)
      }
      client = new Cluster(target.nodes, clusterOpts)
      break
    }
  }
  watchConnection(client, target, opts)
  return client
}

/** Logs each outage once (ioredis emits an error per reconnect attempt) and each recovery. */
function watchConnection (client: RedisClient, target: RedisTarget, opts: RedisClientOptions): void {
  let down = false
  client.on('error', (err: Error) => {
    if (!down) opts.log.warn({ err, redis: target.href, role: opts.role }, 'redis unreachable; reconnecting')
    down = true
  })
  client.on('close', () => {
    if (!down && !closing.has(client)) opts.log.warn({ redis: target.href, role: opts.role }, 'redis connection closed; reconnecting')
    down = true
  })
  client.on('ready', () => {
    opts.log.info({ redis: target.href, role: opts.role }, down ? 'redis reconnected' : 'redis connected')
    down = false
  })
}

/**
 * Called when a command on the request path timed out: Redis stopped answering without closing the
 * connection (a black hole, a partition). The connection is reset (TCP RST, not FIN), so the
 * commands still waiting in its buffers are discarded by both kernels instead of reaching Redis
 * when the network heals, after their requests were answered 503. ioredis then reconnects, and
 * without an offline queue nothing piles up meanwhile. A reset is made once per connection.
 */
export function resetStalledConnection (client: RedisClient): void {
  const nodes = client instanceof Cluster ? client.nodes('all') : [client]
  for (const node of nodes) {
    const stream = node.stream as Socket | undefined
    if (node.status !== 'ready' || stream === undefined || stream.destroyed || resetStreams.has(stream)) continue
    resetStreams.add(stream)
    try {
      stream.resetAndDestroy()
    } catch {
      stream.destroy() // a TLS stream cannot be reset: closing it is the next best
    }
  }
}

const resetStreams = new WeakSet<Socket>()

/** Whether an ioredis error is a command timeout (`commandTimeout`), which it reports by message only. */
export function isCommandTimeout (err: unknown): boolean {
  return err instanceof Error && err.message === 'Command timed out'
}

/** Resolves when the client is ready, or after `ms` (the daemon starts either way). */
export async function waitReady (client: RedisClient, ms: number): Promise<boolean> {
  if (client.status === 'ready') return true
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { client.off('ready', onReady); resolve(false) }, ms)
    const onReady = (): void => { clearTimeout(timer); resolve(true) }
    client.once('ready', onReady)
  })
}

/** Clients we closed on purpose: their close is not an outage. */
const closing = new WeakSet<RedisClient>()

export async function closeRedis (client: RedisClient): Promise<void> {
  closing.add(client)
  // QUIT lets queued replies arrive; it can wait forever on a connection that is down, and
  // shutdown must not, so the connection is cut after a second at most.
  await atMost(client.quit(), 1000)
  client.disconnect()
}
