import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { Cluster } from 'ioredis'
import { createAdminServer } from '../shared/admin-server.js'
import { joinFleet } from '../shared/fleet/join-fleet.js'
import { withNodesRoute } from '../shared/fleet/nodes-route.js'
import type { Daemon, DaemonDeps } from '../shared/daemon.js'
import { refuseMalformedRequests } from '../shared/client-error.js'
import { drainable, listen } from '../shared/listen.js'
import { closeRedis, createRedisClient, isCommandTimeout, resetStalledConnection, waitReady, type RedisClient } from '../shared/redis-client.js'
import { sessionRoutes } from './admin-routes.js'
import { createResetWatch } from './app-session-rotation.js'
import { createHandler } from './handle.js'
import { createGatewayMetrics } from './metrics.js'
import { sinkOf } from '../shared/logger.js'
import { createUpstream } from './proxy.js'
import { createSessionCommitter } from './session-commit.js'
import { createSigner } from './session-cookie.js'
import { gatewayLimits, type GatewayConfig } from './settings.js'
import { createCachedStore, sessionsCached } from './store/cached.js'
import { instrumentStore } from './store/instrumented.js'
import { createMemoryStore } from './store/memory.js'
import { createRedisStore } from './store/redis.js'
import { touchGranularity, type SessionStore } from './store/store.js'
import { createUpgradeHandler } from './upgrade.js'
import { tasksForDaemon } from '../tasks/worker.js'

export function createGateway (config: GatewayConfig, deps: DaemonDeps): Daemon {
  const { log } = deps
  const clock = deps.clock ?? Date.now
  const sink = sinkOf(log)
  const metrics = createGatewayMetrics(() => publicDrain.inflight, () => sink?.dropped ?? 0)
  const timeouts = {
    idleMs: config.idleTimeout,
    absoluteMs: config.absoluteTimeout,
    graceMs: gatewayLimits.regenerateGraceMs,
    maxCookies: gatewayLimits.maxJarCookies,
    touchEveryMs: touchGranularity(config.idleTimeout)
  }
  let redis: RedisClient | undefined
  let rawStore: SessionStore
  if (config.redis !== undefined) {
    redis = createRedisClient(config.redis, { role: 'command', timeoutMs: config.redisTimeout, log })
    rawStore = createRedisStore(redis, timeouts, { republish: config.redis.mode === 'cluster' && config.sessionCacheSize > 0 })
  } else {
    log.warn('no --redis: sessions live in this process only; run one node, or set --redis to share them')
    rawStore = createMemoryStore(timeouts)
  }
  const command = redis
  let store = instrumentStore(rawStore, metrics, (err) => {
    if (command !== undefined && isCommandTimeout(err)) resetStalledConnection(command)
  })
  if (config.redis !== undefined && config.sessionCacheSize > 0) {
    const hit = metrics.sessionCache.labels('hit')
    const miss = metrics.sessionCache.labels('miss')
    // In front of the instrumentation: hits skip it (it measures Redis).
    store = createCachedStore(store, {
      target: config.redis,
      maxBytes: config.sessionCacheSize,
      touchEveryMs: timeouts.touchEveryMs,
      timeoutMs: config.redisTimeout,
      log,
      counts: { hit: () => hit.inc(), miss: () => miss.inc() },
      command: redis instanceof Cluster ? redis : undefined
    })
  }
  let keys = config.secret
  if (keys === undefined || keys.length === 0) {
    log.warn('no --secret: signing with a random key; sessions end when this process restarts')
    keys = [randomBytes(32).toString('base64url')]
  }
  const signer = createSigner(keys)
  const upstream = createUpstream({ origin: config.upstream, timeoutMs: config.upstreamTimeout, maxHeaderBytes: gatewayLimits.maxAppHeadBytes })
  const common = {
    store, signer, log, clock,
    cookieName: config.cookieName,
    trustProxy: config.trustProxy,
    cookieSamesite: config.cookieSamesite,
    storeFailure: config.storeFailure,
    retryAfterSeconds: gatewayLimits.retryAfterSeconds,
    tasksPath: config.tasks ? config.tasksPath : undefined
  }
  const commit = createSessionCommitter({
    ...common,
    metrics,
    cookieSecure: config.cookieSecure,
    cookieSameSite: config.cookieSamesite,
    passthrough: new Set(config.passthroughCookies),
    appSessionCookies: new Set(config.appSessionCookies),
    onAppSessionRotation: createResetWatch({
      log,
      resets: metrics.appSessionResets,
      windowMs: gatewayLimits.appSessionResetWindowMs,
      warnEveryMs: gatewayLimits.appSessionResetWarnEveryMs
    }),
    maxCookieBytes: gatewayLimits.maxCookieBytes
  })
  const handle = createHandler({ ...common, upstream, commit, metrics })
  const upgrade = createUpgradeHandler({ ...common, commit, origin: config.upstream, timeoutMs: config.upstreamTimeout })

  const server = http.createServer({
    requestTimeout: 0, // uploads may take long; slow headers are bounded by headersTimeout
    headersTimeout: 30_000, // 30 s to send the request head
    keepAliveTimeout: 65_000 // 65 s: longer than common load balancers' idle timeout (60 s)
  }, (req, res) => { void handle(req, res) })
  const publicDrain = drainable(server)
  server.on('upgrade', upgrade)
  refuseMalformedRequests(server, log, (status) => metrics.requestsWith(status).inc())

  const figures = { registry: metrics.registry, requests: 'podside_gateway_requests_total', sessionsCached: () => sessionsCached(store) }
  // With --tasks the tasks part joins the fleet under the id its consumer has.
  const tasks = config.tasks ? tasksForDaemon(config, { ...figures, log, role: 'gateway', clock: deps.clock }) : undefined
  const fleet = tasks !== undefined ? tasks.fleet : joinFleet('gateway', config.redis, { log, timeoutMs: config.redisTimeout, figures })
  const sessions = sessionRoutes(store, clock)
  const admin = createAdminServer({
    log,
    token: config.adminToken,
    draining: () => publicDrain.draining,
    registry: metrics.registry,
    ready: async () => await store.ping(),
    routes: withNodesRoute(fleet, tasks === undefined ? sessions : async (req, res, url) => await sessions(req, res, url) || await tasks.routes(req, res, url))
  })
  const adminDrain = drainable(admin)

  return {
    async listen () {
      if (redis !== undefined) await waitReady(redis, Math.max(2000, config.redisTimeout))
      const url = await listen(server, config.listen, '--listen')
      const adminUrl = await listen(admin, config.adminListen, '--admin-listen')
      fleet?.start({ url, adminUrl })
      tasks?.tasks.start()
      tasks?.schedules.start()
      log.info({ url, adminUrl, upstream: config.upstream.href, store: store.kind, redis: config.redis?.href }, 'gateway listening')
      return { url, adminUrl }
    },
    async close () {
      log.info('gateway shutting down')
      await tasks?.schedules.stop()
      await Promise.all([publicDrain.close(config.shutdownTimeout), tasks?.tasks.stop(config.shutdownTimeout)])
      await fleet?.stop()
      await adminDrain.close(0)
      await upstream.close()
      await store.close()
      if (redis !== undefined) await closeRedis(redis)
      await tasks?.closeRedis()
      log.info('gateway stopped')
    }
  }
}
