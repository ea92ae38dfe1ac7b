import { randomUUID } from 'node:crypto'
import type { Cluster } from 'ioredis'
import type { Logger } from '../shared/logger.js'
import { closeRedis, createRedisClient, waitReady } from '../shared/redis-client.js'
import type { RedisTarget } from '../shared/redis-url.js'
import { purgeChannelSetting, redisSetting } from '../shared/daemon-settings.js'
import { boolean } from '../shared/setting-kinds.js'
import type { PurgeSpec } from './purge-message.js'

export const purgeSettings = {
  redis: redisSetting('where the file proxies subscribe'),
  purgeChannel: purgeChannelSetting,
  prefix: boolean('the arguments are prefixes (`/avatars/`), not paths', { default: false }),
  all: boolean('drop every cached file on every node', { default: false })
}

/**
 * Publishes one purge and counts the file proxies that received it. PUBLISH answers with the
 * subscribers of the node it ran on; a Cluster broadcasts to every node, so there the count is
 * PUBSUB NUMSUB summed over all nodes.
 */
export async function publishPurge (target: RedisTarget, channel: string, spec: PurgeSpec, log: Logger): Promise<{ id: string, receivers: number }> {
  const client = createRedisClient(target, { role: 'command', timeoutMs: 5000, log })
  try {
    if (!await waitReady(client, 5000)) throw new Error(`cannot reach Redis at ${target.href}`)
    const id = spec.id ?? randomUUID()
    const message = JSON.stringify({ id, ...spec.paths.length > 0 ? { paths: spec.paths } : {}, ...spec.prefixes.length > 0 ? { prefixes: spec.prefixes } : {}, ...spec.all ? { all: true } : {} })
    const published = await client.publish(channel, message)
    if (target.mode !== 'cluster') return { id, receivers: published }
    const counts = await Promise.all((client as Cluster).nodes('all').map(async (node) => {
      const [, n] = await node.pubsub('NUMSUB', channel) as [string, number]
      return Number(n)
    }))
    return { id, receivers: counts.reduce((a, b) => a + b, 0) }
  } finally {
    await closeRedis(client)
  }
}
