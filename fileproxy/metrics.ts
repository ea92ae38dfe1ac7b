import { Counter, Gauge } from 'prom-client'
import { daemonMetrics } from '../shared/metrics.js'

export type FileproxyMetrics = ReturnType<typeof createFileproxyMetrics>

/** Prometheus metrics of one file proxy (its own registry). */
export function createFileproxyMetrics (cache: () => { bytes: number, entries: number }, inflight: () => number = () => 0, droppedLines?: () => number) {
  const { registry, requestsWith, requestSeconds } = daemonMetrics('fileproxy', inflight, droppedLines)
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name: `podside_fileproxy_${name}`, help, labelNames, registers: [registry] })
  return {
    registry,
    requestsWith,
    requestSeconds,
    hits: counter('cache_hits_total', 'Requests answered from memory'),
    misses: counter('cache_misses_total', 'Requests that had to load from disk'),
    diskReads: counter('disk_reads_total', 'Whole-file reads from the volume (loads and hashing)'),
    evictions: counter('cache_evictions_total', 'Entries evicted to stay within --cache-size'),
    purges: counter('purges_received_total', 'Purge messages applied, by source', ['source']),
    purgeErrors: counter('purge_messages_ignored_total', 'Malformed or oversized purge messages ignored'),
    staleServed: counter('stale_served_total', 'Answers from memory while the volume failed (--stale-if-error)'),
    tornReads: counter('torn_reads_total', 'Streamed answers cut short because the file changed while it was sent'),
    reconnectDrops: counter('cache_drops_on_reconnect_total', 'Whole-cache drops because the purge log could not tell what was missed while the subscription was lost'),
    bytes: new Gauge({ name: 'podside_fileproxy_cache_bytes', help: 'Bytes held by the cache (bodies and bookkeeping)', registers: [registry], collect () { this.set(cache().bytes) } }),
    entries: new Gauge({ name: 'podside_fileproxy_cache_entries', help: 'Files held by the cache', registers: [registry], collect () { this.set(cache().entries) } })
  }
}
