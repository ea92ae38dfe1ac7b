import type { RedisClient } from '../shared/redis-client.js'
import { checked } from '../shared/fleet/read-fleet.js'

/**
 * The purge log in Redis (not to be confused with purge-report.ts, which logs purges to stdout):
 * `<channel>:log`, a Stream holding every purge published by `podside purge`, one entry per
 * message, so a file proxy whose subscription dropped can read what it missed; and
 * `<channel>:acks`, a hash of file proxy node id → the last log entry it applied (a watermark:
 * entries are applied in order, so it acknowledges every purge up to that entry).
 */
export const logKey = (channel: string): string => `${channel}:log`
export const acksKey = (channel: string): string => `${channel}:acks`

/** A Stream entry id `<ms>-<seq>`. */
export const ENTRY_ID = /^\d{1,16}-\d{1,16}$/

/** Orders two Stream entry ids (negative: `a` is older). */
export function compareEntryIds (a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt)
  const [bm, bs] = b.split('-').map(BigInt)
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1
}

export const maxEntryId = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : compareEntryIds(a, b) >= 0 ? a : b

/**
 * Appends each message to the log and publishes it with its entry id spliced in as `"log"`, in
 * one script: Redis runs it whole, so no subscriber can see a message the log lacks, nor the log
 * hold one that was never published. PUBLISH from a script reaches the whole Cluster (classic
 * pub/sub is broadcast); the one key names the master that runs it. The script answers the
 * subscribers of its own node and the entry ids. `MAXLEN ~` is a safety bound only: the file
 * proxies trim by age (`--purge-log-retention`), and a length trim they missed shows as a gap.
 */
const APPEND = `
local ids = {}
local received = 0
for i = 3, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[i])
  received = redis.call('PUBLISH', ARGV[2], '{"log":"' .. id .. '",' .. string.sub(ARGV[i], 2))
  ids[#ids + 1] = id
end
return { received, ids }
`

/** `messages`: JSON objects (`{…}`). */
export async function appendPurge (client: RedisClient, channel: string, messages: string[], maxLength: number): Promise<{ received: number, entries: string[] }> {
  // The channel is an argument, not a key: a channel never routes under Cluster.
  const [received, entries] = await client.eval(APPEND, 1, logKey(channel), String(maxLength), channel, ...messages) as [number, string[]]
  return { received, entries }
}

export interface LogState {
  /** The newest entry ever added (`0-0`: none). */
  lastEntry: string
  /** The oldest entry still held; undefined when the log is empty. */
  firstEntry: string | undefined
  /** Entries were removed (entries-added > length): by the trimming, or XDEL. */
  trimmed: boolean
}

/** XINFO STREAM; undefined when the log does not exist. */
export async function logState (client: RedisClient, channel: string): Promise<LogState | undefined> {
  let info: unknown[]
  try {
    info = await client.xinfo('STREAM', logKey(channel)) as unknown[]
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return undefined
    throw err
  }
  const field = (name: string): unknown => {
    const i = info.indexOf(name)
    return i === -1 ? undefined : info[i + 1]
  }
  const first = field('first-entry') as [string, string[]] | null | undefined
  return {
    lastEntry: String(field('last-generated-id') ?? '0-0'),
    firstEntry: first == null ? undefined : first[0],
    trimmed: Number(field('entries-added') ?? 0) > Number(field('length') ?? 0)
  }
}

/**
 * Whether a reader that applied every entry up to `watermark` can catch up from the log. Trimming
 * (by age or length) removes the oldest entries and, unlike XDEL, leaves no mark of what it took
 * (max-deleted-entry-id stays 0-0): so it can when nothing was added after the watermark, when
 * the log still holds an entry at or before the watermark (then nothing after it was trimmed), or
 * when the reader started from an empty log (`0-0`) that never lost an entry. A log trimmed exactly
 * up to the watermark counts as a gap: the rare cost is one cold cache.
 */
export function canReplay (state: LogState, watermark: string): boolean {
  if (compareEntryIds(state.lastEntry, watermark) <= 0) return true
  if (watermark === '0-0' && !state.trimmed) return true
  return state.firstEntry !== undefined && compareEntryIds(state.firstEntry, watermark) <= 0
}

/** Up to `count` entries after `after` (exclusive), oldest first: `[entry id, message]`. */
export async function readAfter (client: RedisClient, channel: string, after: string, count: number): Promise<Array<[string, string]>> {
  const rows = await client.xrange(logKey(channel), `(${after}`, '+', 'COUNT', count)
  return rows.map(([id, fields]) => {
    const i = fields.indexOf('m')
    return [id, i === -1 ? '' : '{"log":"' + id + '",' + fields[i + 1].slice(1)]
  })
}

/** Drops entries older than `olderThanMs` (epoch ms); `~` lets Redis trim whole nodes only. */
export async function trimLog (client: RedisClient, channel: string, olderThanMs: number): Promise<number> {
  return await client.xtrim(logKey(channel), 'MINID', '~', `${Math.max(0, Math.floor(olderThanMs))}-0`)
}

/** Records that `node` applied every entry up to `entry`; the hash lives as long as acks keep coming. */
export async function acknowledge (client: RedisClient, channel: string, node: string, entry: string, ttlMs: number): Promise<void> {
  checked(await client.multi().hset(acksKey(channel), node, entry).pexpire(acksKey(channel), ttlMs).exec())
}

export async function readAcks (client: RedisClient, channel: string): Promise<Record<string, string>> {
  return await client.hgetall(acksKey(channel))
}
