import { Cluster } from 'ioredis'
import type { Logger } from '../shared/logger.js'
import type { RedisClient } from '../shared/redis-client.js'
import { mergePurges } from './purge-match.js'
import { parsePurgeMessage, type PurgeSpec } from './purge-message.js'
import { acknowledge, canReplay, compareEntryIds, logState, readAfter, trimLog } from './purge-stream.js'

/**
 * A file proxy's place in the purge log (purge-stream.ts): the last entry it applied (its
 * watermark), what it does after any (re)subscription, its acknowledgements, and the trimming.
 *
 * After a subscription, messages published from then on arrive on the channel; what was published
 * before is read from the log, after the watermark, and applied. Meanwhile messages from the
 * channel are applied at once (a purge only drops, so order does not matter) but the watermark
 * waits until the log is read: it never passes an entry that was not applied. The whole cache is
 * dropped only when the log cannot tell what was missed: it trimmed entries after the watermark,
 * it is gone (Redis lost it), or the node never had a watermark and holds files already (it
 * served before Redis was reachable).
 */
export interface PurgeJournal {
  /** The subscription is up (again): read what was missed, then acknowledge. */
  subscribed: () => void
  /** The subscription dropped: the watermark stops until the next catch-up. */
  lost: () => void
  /** A purge from the channel was applied (a batch: its newest entry). */
  applied: (spec: PurgeSpec) => void
  /** Subscribed and done reading the log: nothing published so far is missing. */
  readonly caughtUp: boolean
  readonly lastEntry: string | undefined
  readonly lastPurgeId: string | undefined
  close: () => Promise<void>
}

export interface PurgeJournalOptions {
  /** A command connection (not the subscriber's). */
  client: RedisClient
  channel: string
  /** This node in the fleet registry; acknowledgements are written under it. */
  nodeId: string | undefined
  retentionMs: number
  /** Applies purges read from the log (`messages` of them, merged); returns the entries dropped. */
  apply: (spec: PurgeSpec, messages: number) => number
  /** Drops the whole cache; returns the entries dropped. */
  dropAll: () => number
  /** Files cached now. */
  cachedEntries: () => number
  log: Logger
  maxMessageBytes: number
  /** Entries read per XRANGE. @default 500 */
  pageSize?: number
  /** @default Date.now */
  clock?: () => number
  /** Longest pause between two tries of a failed catch-up or acknowledgement (ms). @default 2000 */
  maxBackoffMs?: number
}

export function createPurgeJournal (opts: PurgeJournalOptions): PurgeJournal {
  const { client, channel, log } = opts
  const clock = opts.clock ?? Date.now
  const pageSize = opts.pageSize ?? 500
  const maxBackoffMs = opts.maxBackoffMs ?? 2000
  let watermark: string | undefined
  let lastPurgeId: string | undefined
  let catchingUp = false
  let up = false
  let pendingMax: string | undefined
  let pendingId: string | undefined
  let generation = 0
  let closed = false
  let retry: NodeJS.Timeout | undefined
  let acked: string | undefined
  let acking: Promise<void> | undefined
  let ackRetry: NodeJS.Timeout | undefined

  function advance (entry: string | undefined, id: string | undefined): void {
    if (entry === undefined) return
    if (catchingUp || !up) {
      if (pendingMax === undefined || compareEntryIds(entry, pendingMax) > 0) { pendingMax = entry; pendingId = id }
      return
    }
    if (watermark === undefined || compareEntryIds(entry, watermark) > 0) { watermark = entry; if (id !== undefined) lastPurgeId = id }
    ack()
  }

  function ack (): void {
    if (opts.nodeId === undefined || watermark === undefined || acking !== undefined || closed) return
    if (acked !== undefined && compareEntryIds(watermark, acked) <= 0) return
    const entry = watermark
    acking = acknowledge(client, channel, opts.nodeId, entry, Math.max(opts.retentionMs, 60_000)).then(() => {
      acked = entry
      acking = undefined
      ack()
    }, (err: unknown) => {
      acking = undefined
      log.debug({ err }, 'purge acknowledgement failed; retrying')
      clearTimeout(ackRetry)
      ackRetry = setTimeout(ack, maxBackoffMs).unref()
    })
  }

  /** Reads the log after the watermark; true when done (false: this catch-up was superseded). */
  async function catchUp (gen: number): Promise<boolean> {
    // Right after a Sentinel failover this connection may still be on the demoted master, whose
    // copy is being replaced (the log looks gone, or behind): the log is read from a master only.
    if (!(client instanceof Cluster) && (await client.call('ROLE') as [string])[0] !== 'master') throw new Error('connected to a replica; waiting for the master')
    const state = await logState(client, channel)
    if (gen !== generation) return false
    const tip = state?.lastEntry ?? '0-0'
    const missed = watermark === undefined
      ? (opts.cachedEntries() > 0 ? 'the node served files before it could read the purge log' : undefined)
      : state === undefined
        // No log and no entry ever applied: nothing was ever published, or nothing this node knew of.
        ? (watermark === '0-0' ? undefined : 'the purge log is gone from Redis')
        : !canReplay(state, watermark) ? 'the purges missed are older than the purge log keeps (--purge-log-retention)' : undefined
    if (watermark === undefined || missed !== undefined) {
      if (missed !== undefined) log.warn({ dropped: opts.dropAll(), watermark, reason: missed }, 'purge subscription is back but the purge log cannot tell what was missed: dropped the whole cache')
      watermark = tip
      return true
    }
    let replayed = 0
    let dropped = 0
    for (;;) {
      const page = await readAfter(client, channel, watermark, pageSize)
      if (gen !== generation) return false
      const specs: PurgeSpec[] = []
      for (const [, text] of page) {
        const spec = parsePurgeMessage(text, opts.maxMessageBytes + 64)
        if (typeof spec !== 'string') specs.push(spec)
      }
      if (specs.length > 0) {
        const merged = mergePurges(specs)
        dropped += opts.apply(merged, specs.length)
        if (merged.id !== undefined) lastPurgeId = merged.id
      }
      replayed += page.length
      if (page.length > 0) watermark = page[page.length - 1][0]
      if (page.length < pageSize) break
    }
    log.warn({ replayed, dropped, watermark }, `purge subscription was lost and is back: replayed ${replayed} missed purge message${replayed === 1 ? '' : 's'} from the purge log, kept the rest of the cache`)
    return true
  }

  function start (attempt: number): void {
    const gen = generation
    catchUp(gen).then((done) => {
      if (!done || gen !== generation) return
      catchingUp = false
      const [pending, id] = [pendingMax, pendingId]
      pendingMax = pendingId = undefined
      advance(pending, id)
      ack()
    }, (err: unknown) => {
      if (gen !== generation || closed) return
      if (attempt === 0) log.warn({ err }, 'cannot read the purge log yet; retrying')
      else log.debug({ err, attempt }, 'purge log catch-up failed again')
      retry = setTimeout(() => start(attempt + 1), Math.min(100 * (attempt + 1), maxBackoffMs)).unref()
    })
  }

  const trimEvery = Math.min(60_000, Math.max(1000, Math.floor(opts.retentionMs / 10)))
  const trimmer = setInterval(() => {
    trimLog(client, channel, clock() - opts.retentionMs).catch((err: unknown) => log.debug({ err }, 'purge log trim failed'))
  }, trimEvery).unref()

  return {
    subscribed () {
      generation++
      clearTimeout(retry)
      up = true
      catchingUp = true
      start(0)
    },
    lost () {
      generation++
      clearTimeout(retry)
      up = false
    },
    applied (spec) { advance(spec.log, spec.id) },
    get caughtUp () { return up && !catchingUp },
    get lastEntry () { return watermark },
    get lastPurgeId () { return lastPurgeId },
    async close () {
      closed = true
      generation++
      clearTimeout(retry)
      clearTimeout(ackRetry)
      clearInterval(trimmer)
      await acking
    }
  }
}
