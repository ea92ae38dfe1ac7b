import t from 'tap'
import { createRedisClient, closeRedis, waitReady } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { createRedisStore } from '../../gateway/store-redis.js'
import { startCluster, startRedis, stopRedis } from '../helpers/redis.js'
import { silentLogger } from '../helpers/log.js'
import { contractTimeouts, storeContract } from './store-contract.js'

async function connect (url: string) {
  const client = createRedisClient(parseRedisUrl(url) as RedisTarget, { role: 'command', timeoutMs: 2000, log: silentLogger() })
  if (!await waitReady(client, 10_000)) throw new Error(`could not connect to ${url}`)
  return client
}

t.test('redis store on a standalone redis-server', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  storeContract(t, async () => {
    const client = await connect(server.url)
    const store = createRedisStore(client, contractTimeouts)
    return { ...store, close: async () => { await store.close(); await closeRedis(client) } }
  })
})

t.test('redis store on a 3-master Redis Cluster', async (t) => {
  const cluster = await startCluster(3)
  t.teardown(async () => await cluster.close())
  storeContract(t, async () => {
    const client = await connect(cluster.url)
    const store = createRedisStore(client, contractTimeouts)
    return { ...store, close: async () => { await store.close(); await closeRedis(client) } }
  })
})
