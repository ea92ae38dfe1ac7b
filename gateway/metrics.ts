import { Counter, Histogram } from 'prom-client'
import { daemonMetrics } from '../shared/metrics.js'

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>

/**
 * Prometheus metrics of one gateway (its own registry, so tests can run several in one process).
 * `inflight` reads how many requests are open when scraped.
 */
export function createGatewayMetrics (inflight: () => number = () => 0, droppedLines?: () => number) {
  const { registry, requestsWith, requestSeconds } = daemonMetrics('gateway', inflight, droppedLines)
  return {
    registry,
    requestsWith,
    requestSeconds,
    upstreamSeconds: new Histogram({
      name: 'podside_gateway_upstream_duration_seconds',
      help: 'Time from forwarding a request to the app\'s response headers',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry]
    }),
    storeSeconds: new Histogram({
      name: 'podside_gateway_store_duration_seconds',
      help: 'Session store call time, by operation',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry]
    }),
    storeErrors: new Counter({ name: 'podside_gateway_store_errors_total', help: 'Session store calls that failed, by operation', labelNames: ['op'], registers: [registry] }),
    sessionCache: new Counter({
      name: 'podside_gateway_session_cache_lookups_total',
      help: 'Session lookups by the session cache: answered from memory (hit) or from Redis (miss)',
      labelNames: ['result'],
      registers: [registry]
    }),
    sessionsCreated: new Counter({ name: 'podside_gateway_sessions_created_total', help: 'Sessions created', registers: [registry] }),
    appSessionResets: new Counter({
      name: 'podside_gateway_app_session_resets_total',
      help: 'The app replaced its own session cookie again within a minute of the last time (node-local session state), by cookie name',
      labelNames: ['cookie'],
      registers: [registry]
    })
  }
}
