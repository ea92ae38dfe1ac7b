import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { byStatus } from '../shared/metrics.js'

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>

/** Prometheus metrics of one gateway (its own registry, so tests can run several in one process). */
export function createGatewayMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'podside_gateway_' })
  const requests = new Counter({ name: 'podside_gateway_requests_total', help: 'Requests answered, by status code', labelNames: ['status'], registers: [registry] })
  return {
    registry,
    requestsWith: byStatus(requests),
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
    sessionCache: new Counter({ name: 'podside_gateway_session_cache_total', help: 'Session reads answered by the session cache (hit) or by the store (miss)', labelNames: ['result'], registers: [registry] }),
    sessionsCreated: new Counter({ name: 'podside_gateway_sessions_created_total', help: 'Sessions created', registers: [registry] }),
    appSessionResets: new Counter({
      name: 'podside_gateway_app_session_resets_total',
      help: 'The app replaced its own session cookie again within a minute of the last time (node-local session state), by cookie name',
      labelNames: ['cookie'],
      registers: [registry]
    })
  }
}
