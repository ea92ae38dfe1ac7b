import t, { type Test } from 'tap'
import { closeRedis, createRedisClient, waitReady } from '../../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../../shared/redis-url.js'
import { createRedisTaskStore } from '../../../tasks/store/redis.js'
import { taskKeys } from '../../../tasks/task-keys.js'
import { startCluster, startRedis, stopRedis } from '../../helpers/redis.js'
import { silentLogger } from '../../helpers/log.js'
import { waitFor } from '../../helpers/ports.js'
import { RETENTION, task, taskStoreContract } from './contract.js'

async function connect (url: string, timeoutMs = 2000) {
  const client = createRedisClient(parseRedisUrl(url) as RedisTarget, { role: 'command', timeoutMs, log: silentLogger() })
  if (!await waitReady(client, 10_000)) throw new Error(`could not connect to ${url}`)
  return client
}

/** The contract against a fresh queue (flushed) on `url`, with a blocking connection of its own. */
function contractOn (t: Test, url: () => string): void {
  taskStoreContract(t, async () => {
    const client = await connect(url())
    const blocking = await connect(url(), 10_000)
    for (const c of 'nodes' in client ? client.nodes('master') : [client]) await c.flushall()
    const store = createRedisTaskStore({ client, blocking, retentionMs: RETENTION })
    return { ...store, close: async () => { await store.close(); await closeRedis(client); await closeRedis(blocking) } }
  })
}

t.test('redis task store on a standalone redis-server', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  contractOn(t, () => server.url)
})

t.test('redis task store on a 3-master Cluster', async (t) => {
  const cluster = await startCluster(3)
  t.teardown(async () => await cluster.close())
  contractOn(t, () => cluster.url)
})

t.test('every key of a queue shares one hash tag', async (t) => {
  const k = taskKeys()
  const tagged = [k.stream, k.delayed, k.index('dead'), k.task('x'), k.key('y'), k.nodeStream('n'), k.nodes, k.scheduleKey('s')]
  for (const key of tagged) t.match(key, /^podside:tasks:\{default\}:/)
})

t.test('acknowledged entries leave the stream, so it does not grow with the work done', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const client = await connect(server.url)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisTaskStore({ client, retentionMs: RETENTION })
  for (let i = 0; i < 50; i++) await store.add(task(), [], 1)
  const taken = await store.take('n1', 50, 0, 2)
  t.equal(taken.length, 50)
  for (const x of taken) await store.finish(x, { n: 1, node: 'n1', start: 2, durationMs: 1, outcome: 'done' }, { state: 'done' }, 3)
  t.equal(await client.xlen(taskKeys().stream), 0)
  const pending = await client.xpending(taskKeys().stream, taskKeys().group) as [number]
  t.equal(pending[0], 0)
})

t.test('the sweep forgets consumers that hold nothing and were idle long enough, and keeps those holding tasks', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const client = await connect(server.url)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisTaskStore({ client, retentionMs: RETENTION, consumerIdleMs: 50 })
  await store.add(task(), [], 1)
  await store.add(task(), [], 1)
  t.equal((await store.take('busy', 1, 0, 2)).length, 1)
  const [mine] = await store.take('gone', 1, 0, 2)
  await store.finish(mine, { n: 1, node: 'gone', start: 3, durationMs: 1, outcome: 'done' }, { state: 'done' }, 4)
  const names = async (): Promise<string[]> => ((await client.xinfo('CONSUMERS', taskKeys().stream, taskKeys().group)) as unknown[][]).map((c) => String(c[1]))
  t.same((await names()).sort(), ['busy', 'gone'])
  await waitFor('the idle consumer forgotten', async () => { await store.sweep(Date.now()); return (await names()).includes('gone') ? undefined : true })
  t.same(await names(), ['busy'], 'the one holding a task stays')
})
