import type { Registry } from 'prom-client'
import { noFigures, type LiveFigures } from './node-record.js'

/** Where a daemon's figures come from: its own Prometheus registry, and a few getters. */
export interface FigureSources {
  registry: Registry
  /** Name of the counter of requests answered (every label summed). */
  requests: string
  /** Names of the cache hit and miss counters (fileproxy). */
  hits?: string
  misses?: string
  cacheBytes?: () => number
  sessionsCached?: () => number | undefined
  /** Tasks this node runs now (a node that runs tasks reports a number, others null). */
  tasksRunning?: () => number
  clock?: () => number
}

/**
 * Figures per heartbeat. Rates are over the time since the previous heartbeat (the first over the
 * time since this was created), so they describe now rather than the whole process lifetime.
 */
export function liveFigures (src: FigureSources): (now: number) => Promise<LiveFigures> {
  const clock = src.clock ?? Date.now
  let last = { at: clock(), requests: 0, hits: 0, misses: 0 }
  return async (now) => {
    const current = {
      at: now,
      requests: await total(src.registry, src.requests),
      hits: src.hits === undefined ? 0 : await total(src.registry, src.hits),
      misses: src.misses === undefined ? 0 : await total(src.registry, src.misses)
    }
    const seconds = (now - last.at) / 1000
    const lookups = (current.hits - last.hits) + (current.misses - last.misses)
    const figures: LiveFigures = {
      ...noFigures,
      requestsPerSecond: seconds > 0 ? round((current.requests - last.requests) / seconds, 2) : null,
      cacheHitRatio: src.hits !== undefined && lookups > 0 ? round((current.hits - last.hits) / lookups, 3) : null,
      cacheBytes: src.cacheBytes?.() ?? null,
      sessionsCached: src.sessionsCached?.() ?? null,
      tasksRunning: src.tasksRunning?.() ?? null
    }
    last = current
    return figures
  }
}

async function total (registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values.reduce((sum, v) => sum + v.value, 0)
}

function round (n: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}
