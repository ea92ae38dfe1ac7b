import { statSync } from 'node:fs'
import { checkListeners, commonSettings, purgeChannelSetting, redisSetting } from '../shared/daemon-settings.js'
import { boolean, duration, listenAddress, size, text, type Values } from '../shared/setting-kinds.js'
import { formatDuration, formatSize } from '../shared/units.js'

const MiB = 1024 * 1024

/** Every setting of `podside fileproxy`, with its default. Durations are ms, sizes bytes. */
export const fileproxySettings = {
  root: text('the mounted directory served (read-only)', { required: true }),
  listen: listenAddress('public listener', { default: { host: '0.0.0.0', port: 8081 } }),
  adminListen: listenAddress('health, metrics, url and local purge listener (keep it private)', { default: { host: '127.0.0.1', port: 9902 } }),
  adminToken: commonSettings.adminToken,
  redis: redisSetting('purge channel; without it purges come only through the admin API and the watcher'),
  purgeChannel: purgeChannelSetting,
  purgeLogRetention: duration('how long the purge log (<channel>:log) keeps purges for nodes that lost their subscription to replay', { default: 3_600_000 }), // 1 h
  cacheSize: size('bytes of file bodies (and their bookkeeping) held in memory, a hard bound', { default: 256 * MiB }), // 256 MiB
  maxObjectSize: size('larger files are streamed from disk, never cached', { default: 8 * MiB }), // 8 MiB
  revalidate: duration('how often a cached entry is re-checked with stat (0 = only purges and the watcher)', { default: 60_000 }), // 60 s
  staleIfError: duration('how long after its last good check a cached file is still served while the volume fails (0 = never)', { default: 3_600_000 }), // 1 h
  compress: boolean('keep brotli and gzip copies of compressible files (text, JSON, JS, CSS, XML, SVG) and send them by Accept-Encoding', { default: true }),
  watch: boolean('watch --root and purge changed paths', { default: false }),
  watchPoll: boolean('poll instead of OS events (network mounts: events do not cross hosts)', { default: false }),
  hashParam: text('the query parameter of hash URLs', { default: 'v' }),
  redisTimeout: commonSettings.redisTimeout,
  shutdownTimeout: commonSettings.shutdownTimeout,
  logLevel: commonSettings.logLevel
}

export type FileproxyConfig = Values<typeof fileproxySettings>

/** Limits that are not settings. */
export const fileproxyLimits = {
  entryOverheadBytes: 512, // bookkeeping counted per cached entry on top of its body
  maxPurgeMessageBytes: 64 * 1024, // 64 KiB: larger purge messages are ignored
  purgeLogMaxEntries: 100_000, // safety bound of the purge log's length; the retention trims it by age
  purgeLogTimeoutMs: 5000, // 5 s: longest a purge log read or acknowledgement may take (off the request path)
  purgeBatchMs: 5, // longest a batch of purge messages holds the event loop before readers get a turn
  compressMinBytes: 256, // smaller bodies are sent as they are: a variant would save less than its headers cost
  brotliQuality: 5, // 0-11: 5 is within ~12% of 11's size at ~1% of its time (docs/decisions.md)
  gzipLevel: 6, // zlib's default: level 9 saves ~10% more for ~4× the time
  compressConcurrency: 1, // files compressed at once: zlib shares libuv's 4 threads with every file read
  purgeReportIntervalMs: 10_000, // 10 s: purges and ignored messages beyond the first are logged as counts this often
  hashMemoEntries: 10_000, // large-file hashes remembered (per path, inode, size, mtime)
  watchPollIntervalMs: 1000 // 1 s between polls with --watch-poll
}

export function checkFileproxyConfig (c: FileproxyConfig): string[] {
  const problems: string[] = []
  if (c.root !== undefined) {
    let isDir = false
    try { isDir = statSync(c.root).isDirectory() } catch { /* reported below */ }
    if (!isDir) problems.push(`--root (PODSIDE_ROOT): expected a readable directory, got ${JSON.stringify(c.root)}`)
  }
  if (c.cacheSize < fileproxyLimits.entryOverheadBytes) problems.push(`--cache-size (PODSIDE_CACHE_SIZE): expected at least 512, got ${formatSize(c.cacheSize)}`)
  if (c.maxObjectSize > c.cacheSize) {
    problems.push(`--max-object-size (PODSIDE_MAX_OBJECT_SIZE): expected at most --cache-size (${formatSize(c.cacheSize)}), got ${formatSize(c.maxObjectSize)}`)
  }
  if (!/^[A-Za-z0-9_.~-]+$/.test(c.hashParam)) problems.push(`--hash-param (PODSIDE_HASH_PARAM): expected a plain query parameter name, got ${JSON.stringify(c.hashParam)}`)
  if (c.staleIfError !== 0 && c.revalidate !== 0 && c.staleIfError < c.revalidate) {
    // A failure is seen at a re-check, --revalidate after the last good one: a shorter window is already over.
    problems.push(`--stale-if-error (PODSIDE_STALE_IF_ERROR): expected 0 or at least --revalidate (${formatDuration(c.revalidate)}), got ${formatDuration(c.staleIfError)}`)
  }
  if (c.purgeLogRetention < 1000) problems.push(`--purge-log-retention (PODSIDE_PURGE_LOG_RETENTION): expected at least 1s, got ${c.purgeLogRetention} ms`)
  if (c.watchPoll && !c.watch) problems.push('--watch-poll (PODSIDE_WATCH_POLL): needs --watch')
  problems.push(...checkListeners(c))
  return problems
}
