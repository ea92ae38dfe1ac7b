import t from 'tap'
import { closeRedis, createRedisClient, waitReady } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { createTaskQueue } from '../../tasks/queue.js'
import { createRedisTaskStore } from '../../tasks/store/redis.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { admin, startTaskApp, startWorker } from '../helpers/tasks.js'

const TASKS = 2000
const LEASE_MS = 2000
const CONCURRENCY = 16

/**
 * Issue 16, "Crash": 3 worker processes, 2,000 tasks of 20–200 ms, one worker SIGKILLed mid-run.
 * Every task succeeds; a task runs twice only if it was in flight on the killed node (at most its
 * concurrency), and those run again within lease + 5 s.
 */
t.test('a node killed mid-run: every task done, duplicates only from its calls in flight', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const open = new Map<string, Set<string>>() // node → task ids whose call is open
  const answered = new Map<object, number>() // call → when its answer was sent
  const app = await startTaskApp((call) => {
    const mine = open.get(call.node) ?? new Set()
    open.set(call.node, mine)
    mine.add(call.id)
    const ms = (JSON.parse(call.body) as { ms: number }).ms
    return { hold: new Promise<void>((resolve) => setTimeout(() => { mine.delete(call.id); answered.set(call, Date.now()); resolve() }, ms)) }
  })
  t.teardown(async () => await app.close())
  const args = ['--upstream', app.url, '--redis', redis.url, '--tasks-lease', `${LEASE_MS}ms`, '--tasks-concurrency', String(CONCURRENCY), '--tasks-backoff', '10ms..100ms']
  const env = { PODSIDE_FLEET_HEARTBEAT: '500ms' }
  const workers = [await startWorker(args, env), await startWorker(args, env), await startWorker(args, env)]
  t.teardown(async () => { for (const w of workers) await w.stop() })

  const client = createRedisClient(parseRedisUrl(redis.url) as RedisTarget, { role: 'command', timeoutMs: 5000, log: silentLogger() })
  await waitReady(client, 5000)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisTaskStore({ client, retentionMs: 3_600_000 })
  const queue = createTaskQueue({ store, clock: Date.now, defaults: { timeoutMs: 30_000, maxAttempts: 10 }, nodes: async () => [] })
  const ids: string[] = []
  for (let i = 0; i < TASKS; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, async (_, j) =>
      await queue.add({ name: 'work', payload: JSON.stringify({ ms: 20 + ((i + j) * 37) % 181 }) })))
    ids.push(...batch.map((r) => r.id))
  }

  const victim = workers[0]
  await waitFor('the victim to be mid-run', () => app.calls.length >= TASKS / 5 && (open.get(victim.node)?.size ?? 0) > 0 ? true : undefined, 60_000)
  const killedAt = Date.now()
  await victim.stop('SIGKILL')

  await waitFor('every task done', async () => (await store.counts()).byState.done === TASKS ? true : undefined, 90_000)
  const byId = new Map<string, typeof app.calls>()
  for (const c of app.calls) byId.set(c.id, [...byId.get(c.id) ?? [], c])
  t.equal(byId.size, TASKS, 'every task reached the app')
  for (const id of ids.slice(0, 50)) t.equal((await store.get(id))?.state, 'done')
  const dups = [...byId].filter(([, calls]) => calls.length > 1)
  t.ok(dups.length <= CONCURRENCY, `${dups.length} duplicates, at most the killed node's concurrency`)
  for (const [id, calls] of dups) {
    // In flight: sent by the killed node and not answered before it died (some reached the app
    // only after the kill, from its socket buffers).
    const first = calls[0]
    t.ok(first.node === victim.node && !((answered.get(first) ?? Infinity) < killedAt), `duplicate ${id} was in flight on the killed node`)
    t.ok(calls[1].at - killedAt <= LEASE_MS + 5000, `${id} ran again ${calls[1].at - killedAt} ms after the kill`)
  }
  let takenOver = 0
  for (const w of workers.slice(1)) {
    const m = (await admin(w.adminUrl, 'GET', '/metrics')).body as string
    takenOver += Number(/podside_tasks_taken_over_total (\d+)/.exec(m)?.[1] ?? 0)
  }
  t.ok(takenOver >= dups.length, `taken over: ${takenOver}`)
  t.equal(await client.xlen('podside:tasks:{default}:stream'), 0, 'the stream holds no acknowledged entry')
})
