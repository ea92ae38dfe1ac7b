import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { closeRedis, createRedisClient, waitReady } from '../../shared/redis-client.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { createTaskQueue } from '../../tasks/queue.js'
import { createRedisTaskStore } from '../../tasks/store/redis.js'
import { taskKeys } from '../../tasks/task-keys.js'
import { startCluster } from '../helpers/redis.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startTaskApp, startWorker } from '../helpers/tasks.js'

const TASKS = 300
const CONCURRENCY = 16

/**
 * Issue 16, "Under Cluster": a 3-master Cluster (one replica each), 3 workers running short tasks
 * and a schedule `every: 1s, on: one`; the master holding the queue's hash tag is SIGKILLed mid-run
 * and its replica promoted.
 *
 * What can be lost: replication is asynchronous, so writes the old master acknowledged but had not
 * yet sent to its replica are gone after the promotion (an add, a finish, a schedule's claim). A
 * lost finish only makes its task run again (at least once); a lost add would lose the task. So the
 * test makes sure every add reached the replica before the kill (a WAIT after a write that follows
 * them: replication is in order), and then asserts that no task is lost.
 */
t.test('a Cluster master failover mid-run: every task the new master holds is done, the schedule goes on, no tick twice', async (t) => {
  const cluster = await startCluster(3, { replicas: 1 })
  t.teardown(async () => await cluster.close())
  const dir = mkdtempSync(join(tmpdir(), 'podside-tasks-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const schedules = join(dir, 'schedules.json')
  writeFileSync(schedules, JSON.stringify({ schedules: { beat: { every: '1s', on: 'one', task: { name: 'beat' } } } }))
  const app = await startTaskApp((call) => call.name === 'beat' ? {} : { delayMs: 30 + (call.id.charCodeAt(1) % 60) })
  t.teardown(async () => await app.close())
  const args = ['--upstream', app.url, '--redis', cluster.url, '--schedules', schedules, '--tasks-lease', '2s',
    '--tasks-concurrency', String(CONCURRENCY), '--tasks-backoff', '10ms..200ms']
  const env = { PODSIDE_FLEET_HEARTBEAT: '500ms' }
  const workers = [await startWorker(args, env), await startWorker(args, env), await startWorker(args, env)]
  t.teardown(async () => { for (const w of workers) await w.stop('SIGKILL') })
  const beats = (): typeof app.calls => app.calls.filter((c) => c.name === 'beat')
  await waitFor('the schedule to tick before the failover', () => beats().length >= 2 ? true : undefined, 15_000)

  const client = createRedisClient(parseRedisUrl(cluster.url) as RedisTarget, { role: 'command', timeoutMs: 5000, log: silentLogger() })
  await waitReady(client, 10_000)
  t.teardown(async () => await closeRedis(client))
  const store = createRedisTaskStore({ client, retentionMs: 3_600_000 })
  const queue = createTaskQueue({ store, clock: Date.now, defaults: { timeoutMs: 10_000, maxAttempts: 20 }, nodes: async () => [] })
  const ids: string[] = []
  for (let i = 0; i < TASKS; i += 50) ids.push(...(await Promise.all(Array.from({ length: 50 }, async (_, j) => (await queue.add({ name: 'ha', delayMs: 15 * (i + j) })).id))))

  // The replica of the queue's master holds every add: a write of our own in the same slot, then
  // WAIT for one replica (the helper's replicaCaughtUp compares with the replica's last ACK, sent
  // once a second, so it never matches while the workers keep writing).
  const slot = Number(await client.cluster('KEYSLOT', taskKeys().stream))
  const owner = await cluster.ownerOf(slot)
  const master = new Redis({ port: owner, host: '127.0.0.1' })
  await master.set(`${taskKeys().stream}:cluster-test-mark`, '1')
  t.equal(await master.call('WAIT', '1', '5000'), 1, 'the replica acknowledged every add')
  master.disconnect()

  // The kill: mid-run, and once the current tick's run was answered a while ago. A run answered in
  // the instant before the kill may have its finish lost with the old master, and would (rightly,
  // at least once) run again; so would a claim made in that instant. The tasks are spread over ~4 s
  // (delays) so the schedule's runs never wait behind a backlog of them.
  await waitFor('mid-run, and the current tick run a while ago', () => {
    const now = Date.now()
    const tick = now - now % 1000
    const beat = beats().find((c) => Date.parse(String(c.headers['podside-task-scheduled-for'])) === tick)
    return app.calls.filter((c) => c.name === 'ha').length >= TASKS / 5 && beat !== undefined && now - beat.at >= 50 && now - tick < 900 ? true : undefined
  }, 20_000)
  const done = app.calls.filter((c) => c.name === 'ha').length
  t.ok(done < TASKS, `killed mid-run (${done} of ${TASKS} calls made)`)
  await cluster.kill(owner)
  const killedAt = Date.now()
  await cluster.settled()
  t.comment(`failover: slot served again ${Date.now() - killedAt} ms after the kill`)
  t.not(await cluster.ownerOf(slot), owner, 'the replica serves the queue\'s slot now')

  let last: unknown
  await waitFor('every task done on the new master', async () => {
    try {
      const counts = await store.counts()
      last = counts.byState
      return counts.byState.done >= TASKS ? true : undefined
    } catch (err) { last = err; return undefined }
  }, 30_000).catch((err: Error) => {
    throw new Error(`${err.message}; last counts ${JSON.stringify(last)}; workers:\n${workers.map((w) => w.output().split('\n').filter((l) => !l.includes('"level":30')).slice(-15).join('\n')).join('\n---\n')}`)
  })
  t.comment(`every task done ${Date.now() - killedAt} ms after the kill`)
  const seen = new Set(app.calls.map((c) => c.id))
  t.same(ids.filter((id) => !seen.has(id)), [], 'every enqueued task reached the app')
  for (const id of ids) {
    const state = (await store.get(id))?.state
    if (state !== 'done') t.fail(`task ${id} is ${String(state)} on the new master`)
  }
  t.ok(app.calls.filter((c) => c.name === 'ha').length >= TASKS, `${app.calls.filter((c) => c.name === 'ha').length - TASKS} calls again after the failover`)

  await waitFor('3 ticks after the failover', () => beats().filter((c) => Date.parse(String(c.headers['podside-task-scheduled-for'])) > killedAt).length >= 3 ? true : undefined, 20_000)
  const ticks = beats().map((c) => String(c.headers['podside-task-scheduled-for']))
  t.same(ticks.filter((tick, i) => ticks.indexOf(tick) !== i), [], 'no tick ran twice')
  const times = ticks.map(Date.parse).sort((a, b) => a - b)
  t.comment(`${(times[times.length - 1] - times[0]) / 1000 + 1 - times.length} ticks not run across the failover (none is replayed: only the newest due tick is claimed)`)
  t.same(workers.map((w) => w.child.exitCode ?? w.child.signalCode), [null, null, null], 'no worker exited')
})
