import t from 'tap'
import { Redis } from 'ioredis'
import { closeRedis, createRedisClient, waitReady } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { createTaskQueue } from '../../tasks/queue.js'
import { createRedisTaskStore } from '../../tasks/store/redis.js'
import { startSentinel } from '../helpers/redis.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startTaskApp, startWorker } from '../helpers/tasks.js'

const TASKS = 500

/**
 * Issue 16, "Under Sentinel": a master failover while 2 workers run tasks. Every task the new
 * master holds is done (tasks acknowledged on the old master just before the switch may run again).
 */
t.test('a Sentinel failover mid-run loses no task the new master holds', async (t) => {
  const sentinel = await startSentinel()
  t.teardown(async () => await sentinel.close())
  const app = await startTaskApp((call) => ({ delayMs: 20 + (call.id.charCodeAt(0) % 30) }))
  t.teardown(async () => await app.close())
  const args = ['--upstream', app.url, '--redis', sentinel.url, '--tasks-lease', '2s', '--tasks-backoff', '10ms..100ms']
  const workers = [await startWorker(args), await startWorker(args)]
  t.teardown(async () => { for (const w of workers) await w.stop() })

  const client = createRedisClient(parseRedisUrl(sentinel.url) as RedisTarget, { role: 'command', timeoutMs: 5000, log: silentLogger() })
  await waitReady(client, 10_000)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisTaskStore({ client, retentionMs: 3_600_000 })
  const queue = createTaskQueue({ store, clock: Date.now, defaults: { timeoutMs: 10_000, maxAttempts: 20 }, nodes: async () => [] })
  const ids: string[] = []
  for (let i = 0; i < TASKS; i += 50) ids.push(...(await Promise.all(Array.from({ length: 50 }, async () => (await queue.add({ name: 'ha' })).id))))
  // Every task is on the replica before the switch: what the new master holds is all of them.
  const master = new Redis({ port: await sentinel.masterPort(), host: '127.0.0.1' })
  t.equal(await master.call('WAIT', '1', '5000'), 1)
  master.disconnect()

  await waitFor('a quarter done', () => app.calls.length >= TASKS / 4 ? true : undefined, 60_000)
  await sentinel.failover()
  await waitFor('every task done on the new master', async () => {
    try { return (await store.counts()).byState.done === TASKS ? true : undefined } catch { return undefined }
  }, 90_000)
  const seen = new Set(app.calls.map((c) => c.id))
  t.equal(ids.filter((id) => !seen.has(id)).length, 0, 'every task reached the app')
  t.ok(app.calls.length >= TASKS, `${app.calls.length - TASKS} calls again after the failover`)
})
