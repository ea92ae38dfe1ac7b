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
import { parsePurgeMessage, type PurgeSpec } from './purge-message.js'
import { fileproxyLimits, type FileproxyConfig } from './settings.js'
import { createWatcher } from './watcher.js'

export function createFileproxy (config: FileproxyConfig, deps: DaemonDeps): Daemon {
  const { log } = deps
  const root = realpathSync(config.root)
  const metrics = createFileproxyMetrics(() => ({ bytes: files.bytes, entries: files.entries }))
  const files: FileStore = createFileStore({
    root,
    cacheSize: config.cacheSize,
    maxObjectSize: config.maxObjectSize,
    revalidateMs: config.revalidate,
    entryOverheadBytes: fileproxyLimits.entryOverheadBytes,
    hashMemoEntries: fileproxyLimits.hashMemoEntries,
    metrics,
    clock: deps.clock
  })
  const handle = createHandler({ files, log, metrics, hashParam: config.hashParam })
  let subscriber: ChannelSubscriber | undefined
  let watcher: ReturnType<typeof createWatcher> | undefined

  function purge (spec: PurgeSpec, source: string): number {
    const dropped = files.purge(spec)
    metrics.purges.inc({ source })
    log.info({ source, id: spec.id, paths: spec.paths.length, prefixes: spec.prefixes.length, all: spec.all, dropped }, 'purge')
    return dropped
  }

  const server = http.createServer({ headersTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => { void handle(req, res) })
  refuseMalformedRequests(server, log, (status) => metrics.requestsWith(status).inc())
  const publicDrain = drainable(server)
  const fleet = joinFleet('fileproxy', config.redis, {
    log, timeoutMs: config.redisTimeout,
    figures: { registry: metrics.registry, requests: 'podside_fileproxy_requests_total', hits: 'podside_fileproxy_cache_hits_total', misses: 'podside_fileproxy_cache_misses_total', cacheBytes: () => files.bytes }
  })
  const admin = createAdminServer({
    log,
    registry: metrics.registry,
    ready: async () => {
      await access(config.root, constants.R_OK)
      if (subscriber !== undefined && !subscriber.ready) throw new Error('not subscribed to the purge channel')
    },
    routes: withNodesRoute(fleet, fileRoutes(files, { hashParam: config.hashParam, maxPurgeBytes: fileproxyLimits.maxPurgeMessageBytes, purge }))
  })
  const adminDrain = drainable(admin)

  return {
    async listen () {
      if (config.redis !== undefined) {
        subscriber = createChannelSubscriber(config.redis, {
          channel: config.purgeChannel,
          timeoutMs: config.redisTimeout,
          log,
          onMessage (text) {
            const spec = parsePurgeMessage(text, fileproxyLimits.maxPurgeMessageBytes)
            if (typeof spec === 'string') {
              metrics.purgeErrors.inc()
              log.warn({ reason: spec, bytes: Buffer.byteLength(text) }, 'purge message ignored')
            } else {
              purge(spec, 'redis')
            }
          },
          onSubscribed (again) {
            if (!again) return
            metrics.reconnectDrops.inc()
            const dropped = files.purge({ paths: [], prefixes: [], all: true })
            log.warn({ dropped }, 'purge subscription was lost and is back: dropped the whole cache (purges may have been missed)')
          }
        })
      } else {
        log.warn('no --redis: purges come only through the admin API (POST /v1/purge) and --watch')
      }
      if (config.watch) {
        watcher = createWatcher(root, { poll: config.watchPoll, intervalMs: fileproxyLimits.watchPollIntervalMs, log, purge: (spec) => purge(spec, 'watch') })
        await watcher.ready
      }
      const url = await listen(server, config.listen)
      const adminUrl = await listen(admin, config.adminListen)
      fleet?.start({ url, adminUrl })
      log.info({ url, adminUrl, root, cacheSize: config.cacheSize, redis: config.redis?.href, watch: config.watch }, 'fileproxy listening')
      return { url, adminUrl }
    },
    async close () {
      log.info('fileproxy shutting down')
      await publicDrain.close(config.shutdownTimeout)
      await fleet?.stop()
      await adminDrain.close(0)
      await watcher?.close()
      await subscriber?.close()
      log.info('fileproxy stopped')
    }
  }
}
