import http from 'node:http'
import { access } from 'node:fs/promises'
import { constants, realpathSync } from 'node:fs'
import { createAdminServer } from '../shared/admin-server.js'
import { joinFleet } from '../shared/fleet/join-fleet.js'
import { withNodesRoute } from '../shared/fleet/nodes-route.js'
import type { Daemon, DaemonDeps } from '../shared/daemon.js'
import { refuseMalformedRequests } from '../shared/client-error.js'
import { createChannelSubscriber, type ChannelSubscriber } from '../shared/channel-subscriber.js'
import { drainable, listen } from '../shared/listen.js'
import { fileRoutes } from './admin-routes.js'
import { createFileStore, type FileStore } from './file-store.js'
import { createHandler } from './handle.js'
import { createFileproxyMetrics } from './metrics.js'
import { sinkOf } from '../shared/logger.js'
import { createPurgeReport } from './purge-report.js'
import type { PurgeSpec } from './purge-message.js'
import { createPurgeJournal, type PurgeJournal } from './purge-journal.js'
import { createPurgeQueue } from './purge-queue.js'
import { logKey } from './purge-stream.js'
import { closeRedis, createRedisClient, type RedisClient } from '../shared/redis-client.js'
import { fileproxyLimits, type FileproxyConfig } from './settings.js'
import { createWatcher } from './watcher.js'

export function createFileproxy (config: FileproxyConfig, deps: DaemonDeps): Daemon {
  const { log } = deps
  const root = realpathSync(config.root)
  const sink = sinkOf(log)
  const metrics = createFileproxyMetrics(() => ({ bytes: files.bytes, entries: files.entries }), () => publicDrain.inflight, () => sink?.dropped ?? 0)
  const files: FileStore = createFileStore({
    root,
    cacheSize: config.cacheSize,
    maxObjectSize: config.maxObjectSize,
    revalidateMs: config.revalidate,
    staleIfErrorMs: config.staleIfError,
    compress: config.compress,
    compressMinBytes: fileproxyLimits.compressMinBytes,
    compressLevels: { brotliQuality: fileproxyLimits.brotliQuality, gzipLevel: fileproxyLimits.gzipLevel },
    compressConcurrency: fileproxyLimits.compressConcurrency,
    entryOverheadBytes: fileproxyLimits.entryOverheadBytes,
    hashMemoEntries: fileproxyLimits.hashMemoEntries,
    metrics,
    clock: deps.clock,
    log
  })
  const handle = createHandler({ files, log, metrics, hashParam: config.hashParam, retryAfterSeconds: Math.max(1, Math.ceil(config.revalidate / 1000)) })
  let subscriber: ChannelSubscriber | undefined
  let journalClient: RedisClient | undefined
  let watcher: ReturnType<typeof createWatcher> | undefined

  const purgeReport = createPurgeReport({ log, metrics, intervalMs: fileproxyLimits.purgeReportIntervalMs })
  function purge (spec: PurgeSpec, source: string): number {
    const dropped = files.purge(spec)
    purgeReport.applied(source, spec, 1, dropped)
    return dropped
  }
  let journal: PurgeJournal | undefined
  const purgeQueue = createPurgeQueue({
    maxBytes: fileproxyLimits.maxPurgeMessageBytes,
    budgetMs: fileproxyLimits.purgeBatchMs,
    apply (spec) {
      const dropped = files.purge(spec)
      journal?.applied(spec)
      return dropped
    },
    report: purgeReport,
    log,
    source: 'redis'
  })

  const server = http.createServer({ headersTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => { void handle(req, res) })
  refuseMalformedRequests(server, log, (status) => metrics.requestsWith(status).inc())
  const publicDrain = drainable(server)
  const fleet = joinFleet('fileproxy', config.redis, {
    log, timeoutMs: config.redisTimeout,
    figures: { registry: metrics.registry, requests: 'podside_fileproxy_requests_total', hits: 'podside_fileproxy_cache_hits_total', misses: 'podside_fileproxy_cache_misses_total', cacheBytes: () => files.bytes, lastPurgeId: () => journal?.lastPurgeId }
  })
  const admin = createAdminServer({
    log,
    token: config.adminToken,
    draining: () => publicDrain.draining,
    registry: metrics.registry,
    ready: async () => {
      await access(config.root, constants.R_OK)
      if (subscriber !== undefined && !subscriber.ready) throw new Error('not subscribed to the purge channel')
      if (journal !== undefined && !journal.caughtUp) throw new Error('reading the purges missed from the purge log')
    },
    routes: withNodesRoute(fleet, fileRoutes(files, { hashParam: config.hashParam, maxPurgeBytes: fileproxyLimits.maxPurgeMessageBytes, purge }))
  })
  const adminDrain = drainable(admin)

  return {
    async listen () {
      if (config.redis !== undefined) {
        journalClient = createRedisClient(config.redis, { role: 'command', timeoutMs: Math.max(config.redisTimeout, fileproxyLimits.purgeLogTimeoutMs), log })
        journal = createPurgeJournal({
          client: journalClient,
          channel: config.purgeChannel,
          nodeId: fleet?.id,
          retentionMs: config.purgeLogRetention,
          apply (spec, messages) {
            const dropped = files.purge(spec)
            purgeReport.applied('replay', spec, messages, dropped)
            return dropped
          },
          dropAll () {
            metrics.reconnectDrops.inc()
            return files.purge({ paths: [], prefixes: [], all: true })
          },
          cachedEntries: () => files.entries,
          log,
          maxMessageBytes: fileproxyLimits.maxPurgeMessageBytes,
          clock: deps.clock
        })
        subscriber = createChannelSubscriber(config.redis, {
          channel: config.purgeChannel,
          timeoutMs: config.redisTimeout,
          log,
          onMessage: purgeQueue.push,
          // A purge storm arrives faster than one turn should handle; the gateway's reads stay as they were.
          paced: true,
          // Under Cluster, subscribe where the log lives: losing that master needs a catch-up anyway.
          preferKey: logKey(config.purgeChannel),
          onSubscribed: () => journal?.subscribed(),
          onLost: () => journal?.lost()
        })
      } else {
        log.warn('no --redis: purges come only through the admin API (POST /v1/purge) and --watch')
      }
      if (config.watch) {
        watcher = createWatcher(root, { poll: config.watchPoll, intervalMs: fileproxyLimits.watchPollIntervalMs, log, purge: (spec) => purge(spec, 'watch') })
        await watcher.ready
      }
      const url = await listen(server, config.listen, '--listen')
      const adminUrl = await listen(admin, config.adminListen, '--admin-listen')
      fleet?.start({ url, adminUrl })
      log.info({ url, adminUrl, node: fleet?.id, root, cacheSize: config.cacheSize, redis: config.redis?.href, watch: config.watch }, 'fileproxy listening')
      return { url, adminUrl }
    },
    async close () {
      log.info('fileproxy shutting down')
      await publicDrain.close(config.shutdownTimeout)
      await fleet?.stop()
      await adminDrain.close(0)
      await watcher?.close()
      await subscriber?.close()
      await journal?.close()
      if (journalClient !== undefined) await closeRedis(journalClient)
      purgeQueue.close()
      purgeReport.close()
      log.info('fileproxy stopped')
    }
  }
}
