import { Redis } from 'ioredis'
import type { HostPort, RedisTarget } from './redis-url.js'

type ClusterTarget = Extract<RedisTarget, { mode: 'cluster' }>

/**
 * Asks a Redis Cluster, through the first of `known` that answers, for every node it has (masters
 * and replicas) and for the master serving `key`'s slot (CLUSTER KEYSLOT, CLUSTER SLOTS). Each
 * question is a short connection of its own, so the answer never comes from a client's cached
 * view of the slots. Throws when no node answers.
 */
export async function clusterNodes (target: ClusterTarget, known: readonly HostPort[], key: string, timeoutMs: number): Promise<{ master: HostPort | undefined, all: HostPort[] }> {
  let lastErr: unknown = new Error('no Cluster node to ask')
  for (const node of known) {
    const c = new Redis({
      host: node.host,
      port: node.port,
      username: target.username,
      password: target.password,
      tls: target.tls ? {} : undefined,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      connectionName: 'podside-discovery'
    })
    c.on('error', () => {})
    try {
      await c.connect()
      const slot = await c.cluster('KEYSLOT', key) as number
      const ranges = await c.cluster('SLOTS') as Array<[number, number, ...Array<[string, number, ...unknown[]]>]>
      const all = new Map<string, HostPort>()
      let master: HostPort | undefined
      for (const [start, end, ...nodes] of ranges) {
        const hostPorts = nodes.map(([host, port]) => ({ host: host === '' ? node.host : host, port: Number(port) }))
        for (const hp of hostPorts) all.set(`${hp.host}:${hp.port}`, hp)
        if (slot >= start && slot <= end) master = hostPorts[0]
      }
      return { master, all: [...all.values()] }
    } catch (err) {
      lastErr = err
    } finally {
      c.disconnect()
    }
  }
  throw lastErr
}
