import { randomUUID } from 'node:crypto'
import type { Cluster } from 'ioredis'
import { withDeadline } from '../shared/deadline.js'
import type { Logger } from '../shared/logger.js'
import { closeRedis, createRedisClient, waitReady, type RedisClient } from '../shared/redis-client.js'
import type { RedisTarget } from '../shared/redis-url.js'
import { purgeChannelSetting, redisSetting } from '../shared/daemon-settings.js'
import { boolean, duration, type Setting } from '../shared/setting-kinds.js'
import { PurgeTooLarge } from './errors.js'
import type { PurgeSpec } from './purge-message.js'
import { appendPurge } from './purge-stream.js'
import { fileproxyLimits } from './settings.js'

/** `--wait` alone waits this long (ms). */
export const DEFAULT_WAIT_MS = 5000 // 5 s

const wait: Setting<number | undefined> = {
  ...duration('after publishing, wait up to this long until every live file proxy of the fleet acknowledged the purge (alone: 5s)', {}),
  kind: '[<duration>]'
}

export const purgeSettings = {
  redis: redisSetting('where the file proxies subscribe'),
  purgeChannel: purgeChannelSetting,
  prefix: boolean('the arguments are prefixes (`/avatars/`), not paths', { default: false }),
  all: boolean('drop every cached file on every node', { default: false }),
  wait
}

/**
 * `--wait [TIMEOUT]`: the flag alone means 5 s. The word after it is its TIMEOUT unless it is a
 * path (`/…`) or another flag, so `--wait /a.png` waits 5 s and `--wait abc` is a bad TIMEOUT.
 */
export function expandWait (argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1]
    if (argv[i] === '--wait' && (next === undefined || next.startsWith('/') || next.startsWith('--'))) out.push(`--wait=${DEFAULT_WAIT_MS}ms`)
    else out.push(argv[i])
  }
  return out
}

/**
 * The messages of one purge, each under the file proxies' 64 KiB limit once the log entry id is
 * spliced in: one when it fits, else its paths and prefixes spread over several messages that
 * share the purge id (a purge only drops, so its parts may apply in any order). Throws
 * FP_ERR_PURGE_TOO_LARGE when a single path cannot fit in a message.
 */
export function purgeMessages (id: string, spec: PurgeSpec, maxBytes = fileproxyLimits.maxPurgeMessageBytes - LOG_FIELD_BYTES): string[] {
  if (spec.all) return [JSON.stringify({ id, all: true })]
  const build = (paths: string[], prefixes: string[]): string =>
    JSON.stringify({ id, ...paths.length > 0 ? { paths } : {}, ...prefixes.length > 0 ? { prefixes } : {} })
  const whole = build(spec.paths, spec.prefixes)
  if (Buffer.byteLength(whole) <= maxBytes) return [whole]
  const messages: string[] = []
  let paths: string[] = []
  let prefixes: string[] = []
  let bytes = Buffer.byteLength(build([], [])) + '"paths":[],"prefixes":[],'.length
  for (const [item, list] of [...spec.paths.map((p) => [p, 'paths'] as const), ...spec.prefixes.map((p) => [p, 'prefixes'] as const)]) {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1
    if (bytes + size > maxBytes) {
      if (paths.length + prefixes.length === 0) throw new PurgeTooLarge(`a path of ${size} bytes cannot fit in a purge message (${maxBytes} bytes at most)`)
      messages.push(build(paths, prefixes))
      paths = []
      prefixes = []
      bytes = Buffer.byteLength(build([], [])) + '"paths":[],"prefixes":[],'.length
      if (bytes + size > maxBytes) throw new PurgeTooLarge(`a path of ${size} bytes cannot fit in a purge message (${maxBytes} bytes at most)`)
    }
    ;(list === 'paths' ? paths : prefixes).push(item)
    bytes += size
  }
  messages.push(build(paths, prefixes))
  return messages
}

/** Room for `"log":"<ms>-<seq>",` spliced into each message by the append script. */
const LOG_FIELD_BYTES = 64

export interface Published {
  id: string
  receivers: number
  /** The log entry of each message; the last one is what `--wait` waits for. */
  entries: string[]
}

/**
 * Publishes one purge: appended to the purge log and published on the channel in one script
 * (purge-stream.ts), then counts the file proxies that received it. PUBLISH answers with the
 * subscribers of the node it ran on; a Cluster broadcasts to every node, so there the count is
 * PUBSUB NUMSUB summed over all nodes.
 */
export async function publishPurge (target: RedisTarget, channel: string, spec: PurgeSpec, log: Logger,
  then?: (client: RedisClient, published: Published) => Promise<void>): Promise<Published> {
  const id = spec.id ?? randomUUID()
  const messages = purgeMessages(id, spec)
  const client = createRedisClient(target, { role: 'command', timeoutMs: COMMAND_TIMEOUT_MS, log })
  try {
    if (!await waitReady(client, COMMAND_TIMEOUT_MS)) throw new Error(`cannot reach Redis at ${target.href}`)
    const { received, entries } = await withDeadline(appendPurge(client, channel, messages, fileproxyLimits.purgeLogMaxEntries),
      COMMAND_TIMEOUT_MS, `Redis at ${target.href} did not answer the purge within ${COMMAND_TIMEOUT_MS / 1000} s: it may or may not have been published`)
    let receivers = received
    if (target.mode === 'cluster') {
      // A node that does not answer (killed, its replica not yet promoted) counts none.
      const counts = await Promise.all((client as Cluster).nodes('all').map(async (node) => {
        try {
          const [, n] = await withDeadline(node.pubsub('NUMSUB', channel) as Promise<[string, number]>, COMMAND_TIMEOUT_MS, 'no answer')
          return Number(n)
        } catch { return 0 }
      }))
      receivers = counts.reduce((a, b) => a + b, 0)
    }
    const published = { id, receivers, entries }
    await then?.(client, published)
    return published
  } finally {
    await closeRedis(client)
  }
}

/** Connecting, and each step of a purge (ms). */
const COMMAND_TIMEOUT_MS = 5000
