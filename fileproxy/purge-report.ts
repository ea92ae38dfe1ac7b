import type { Logger } from '../shared/logger.js'
import type { FileproxyMetrics } from './metrics.js'
import type { PurgeSpec } from './purge-message.js'

/**
 * Counts and logs purges without a line per message: a storm of them once cost a log line each,
 * and pino's wildcard redaction was most of the time the proxy then spent not answering readers.
 * Every purge and every ignored message is counted in the metrics at once. The log says the first
 * one of a quiet spell at once (what an operator running `podside purge` looks for), then one
 * line per interval with the count of the rest; an interval without any closes the spell.
 */
export interface PurgeReport {
  /** `messages` purges, applied together as `spec`, dropped `dropped` entries. */
  applied: (source: string, spec: PurgeSpec, messages: number, dropped: number) => void
  /** A message that is not a purge; `reason` says why (never its content). */
  ignored: (reason: string, bytes: number) => void
  /** Logs the counts not logged yet and stops the timers. */
  close: () => void
}

export function createPurgeReport (opts: { log: Logger, metrics: FileproxyMetrics, intervalMs: number }): PurgeReport {
  const { log, metrics } = opts
  const ignored = spell<{ reason: string, bytes: number }>(opts.intervalMs,
    (first) => log.warn(first, 'purge message ignored'),
    (count, first) => log.warn({ count, first }, `${count} malformed purge messages ignored`))
  const applied = new Map<string, ReturnType<typeof spell<Totals>>>()
  return {
    applied (source, spec, messages, dropped) {
      metrics.purges.inc({ source }, messages)
      let s = applied.get(source)
      if (s === undefined) {
        s = spell<Totals>(opts.intervalMs,
          (f) => log.info({ source, id: f.id, messages: f.messages, paths: f.paths, prefixes: f.prefixes, all: f.all > 0, dropped: f.dropped }, 'purge'),
          (_count, _first, t) => log.info({ source, messages: t.messages, paths: t.paths, prefixes: t.prefixes, all: t.all, dropped: t.dropped },
            `${t.messages} purges applied`),
          add)
        applied.set(source, s)
      }
      s.event({ id: spec.id, messages, paths: spec.paths.length, prefixes: spec.prefixes.length, all: spec.all ? 1 : 0, dropped })
    },
    ignored (reason, bytes) {
      metrics.purgeErrors.inc()
      ignored.event({ reason, bytes })
    },
    close () {
      ignored.close()
      for (const s of applied.values()) s.close()
    }
  }
}

interface Totals { id?: string, messages: number, paths: number, prefixes: number, all: number, dropped: number }
const add = (a: Totals, b: Totals): Totals => ({
  messages: a.messages + b.messages, paths: a.paths + b.paths, prefixes: a.prefixes + b.prefixes, all: a.all + b.all, dropped: a.dropped + b.dropped
})

/**
 * Events logged as a spell: the first at once (`first`), the rest as one line per interval
 * (`rest`, with their count, the first of them, and their sum when `sum` is given).
 */
function spell<T> (intervalMs: number, first: (event: T) => void, rest: (count: number, first: T, sum: T) => void, sum?: (a: T, b: T) => T) {
  let timer: NodeJS.Timeout | undefined
  let count = 0
  let sample: T | undefined
  let total: T | undefined
  const flush = (): void => {
    if (count > 0) rest(count, sample as T, total as T)
    const busy = count > 0
    count = 0
    sample = total = undefined
    if (!busy) { clearInterval(timer); timer = undefined }
  }
  return {
    event (e: T) {
      if (timer === undefined) {
        first(e)
        // unref: a pending count never keeps the process alive; close() logs it on shutdown.
        timer = setInterval(flush, intervalMs).unref()
        return
      }
      count++
      sample ??= e
      total = total === undefined ? e : sum === undefined ? e : sum(total, e)
    },
    close () {
      if (count > 0) rest(count, sample as T, total as T)
      clearInterval(timer)
      timer = undefined
      count = 0
    }
  }
}
