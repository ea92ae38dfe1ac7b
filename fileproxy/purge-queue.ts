import type { Logger } from '../shared/logger.js'
import { mergePurges } from './purge-match.js'
import { parsePurgeMessage, type PurgeSpec } from './purge-message.js'
import type { PurgeReport } from './purge-report.js'

/**
 * Purge messages from the channel, handled in batches between turns of the event loop. One socket
 * read can hand over thousands of messages at once (libuv reads up to 32 × 64 KiB per wake-up);
 * handled where they arrive, a storm of them kept readers waiting for over a second. Here a
 * message is only queued on arrival; each turn parses messages for at most `budgetMs`, applies
 * them as one purge (one walk over the cache for all their prefixes), then yields to I/O
 * (setImmediate) before the next batch. Every message is still counted, and applied in order
 * with the others: a purge only drops, so applying a batch as one is the same as one by one.
 */
export interface PurgeQueue {
  push: (text: string) => void
  /** Messages waiting for their turn. */
  readonly pending: number
  close: () => void
}

export interface PurgeQueueOptions {
  maxBytes: number
  budgetMs: number
  /** Applies a batch of purges as one; returns the entries it dropped. */
  apply: (spec: PurgeSpec) => number
  report: PurgeReport
  log: Logger
  source: string
}

export function createPurgeQueue (opts: PurgeQueueOptions): PurgeQueue {
  // A message too large to be a purge waits as its length only (a backlog of them holds no bytes).
  let queue: Array<string | number> = []
  let head = 0
  let scheduled: NodeJS.Immediate | undefined

  function turn (): void {
    scheduled = undefined
    const until = performance.now() + opts.budgetMs
    const batch: PurgeSpec[] = []
    const debug = opts.log.isLevelEnabled('debug')
    while (head < queue.length) {
      const item = queue[head++]
      const spec = typeof item === 'number' ? `larger than ${opts.maxBytes} bytes` : parsePurgeMessage(item, opts.maxBytes)
      if (typeof spec === 'string') opts.report.ignored(spec, typeof item === 'number' ? item : Buffer.byteLength(item))
      else {
        batch.push(spec)
        if (debug) opts.log.debug({ source: opts.source, id: spec.id, paths: spec.paths, prefixes: spec.prefixes, all: spec.all }, 'purge message')
      }
      // performance.now() costs ~50 ns; a message takes a few µs: looking every 16 is plenty.
      if ((head & 15) === 0 && performance.now() >= until) break
    }
    if (head === queue.length) { queue = []; head = 0 } else if (head >= 4096) { queue = queue.slice(head); head = 0 }
    if (batch.length > 0) {
      const merged = mergePurges(batch)
      opts.report.applied(opts.source, merged, batch.length, opts.apply(merged))
    }
    if (head < queue.length) scheduled = setImmediate(turn)
  }

  return {
    push (text) {
      // A UTF-16 length over the limit means more bytes than that too; the exact check is in the parser.
      queue.push(text.length > opts.maxBytes ? text.length : text)
      scheduled ??= setImmediate(turn)
    },
    get pending () { return queue.length - head },
    close () {
      if (scheduled !== undefined) clearImmediate(scheduled)
      scheduled = undefined
      queue = []
      head = 0
    }
  }
}
