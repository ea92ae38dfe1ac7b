import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * `counter.labels({ status })`, kept per status code: prom-client hashes the label set on every
 * `inc({ status })`, which showed in the per-request profile of both daemons.
 */
export function byStatus (counter: Counter): (status: number) => Counter.Internal {
  const children = new Map<number, Counter.Internal>()
  return (status) => {
    let child = children.get(status)
    if (child === undefined) children.set(status, child = counter.labels({ status }))
    return child
  }
}

/** Request duration buckets (seconds): a cached file in well under a millisecond, a slow app in seconds. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * What every daemon exports, named per Prometheus conventions: the standard `process_*` and
 * `nodejs_*` series (unprefixed, so stock dashboards work; each daemon has its own registry),
 * `podside_<daemon>_requests_total{status}`, `…_request_duration_seconds` and
 * `…_requests_in_flight` (read when scraped, nothing per request), and
 * `podside_log_lines_dropped_total`, read from the log sink (shared/log-sink.ts) when scraped.
 */
export function daemonMetrics (daemon: string, inflight: () => number, droppedLines: () => number = () => 0) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({ name: `podside_${daemon}_requests_total`, help: 'Requests answered, by status code', labelNames: ['status'], registers: [registry] })
  const requestSeconds = new Histogram({
    name: `podside_${daemon}_request_duration_seconds`,
    help: 'Time from a request\'s arrival to its answer\'s end (or the client leaving)',
    buckets: REQUEST_BUCKETS,
    registers: [registry]
  })
  // eslint-disable-next-line no-new -- registered by its constructor, read only when scraped
  new Gauge({ name: `podside_${daemon}_requests_in_flight`, help: 'Requests open now', registers: [registry], collect () { this.set(inflight()) } })
  // eslint-disable-next-line no-new -- as above
  new Counter({
    name: 'podside_log_lines_dropped_total',
    help: 'Log lines dropped because stdout did not keep up (its reader stalled or is gone)',
    registers: [registry],
    collect () { this.reset(); this.inc(droppedLines()) }
  })
  return { registry, requestsWith: byStatus(requests), requestSeconds }
}
