import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { waitFor } from '../../helpers/ports.js'
import { startSentinel } from '../../helpers/redis.js'
import { recordingApp, startWorker } from './workers.js'

t.test('a schedule survives a Sentinel master failover: ticks go on after it, none runs twice', async (t) => {
  const sentinel = await startSentinel()
  t.teardown(async () => await sentinel.close())
  // The replica's first sync waits out the master's diskless-sync delay (5 s): a failover before it
  // promotes an empty replica and loses everything, schedules included (seen here first).
  const replica = new Redis({ port: sentinel.dataPorts[1], host: '127.0.0.1' })
  t.teardown(() => replica.disconnect())
  await waitFor('the replica to finish its first sync', async () => /master_link_status:up/.test(await replica.info('replication')) ? true : undefined, 20_000)
  const dir = mkdtempSync(join(tmpdir(), 'podside-schedules-sentinel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 's.json')
  writeFileSync(file, JSON.stringify({ schedules: { beat: { every: '250ms', overlap: 'allow', task: { name: 'beat' } } } }))
  const app = await recordingApp()
  t.teardown(app.close)
  const args = ['--upstream', app.url, '--redis', sentinel.url, '--schedules', file, '--log-level', 'info']
  const workers = [await startWorker(args), await startWorker(args)]
  t.teardown(async () => { await Promise.all(workers.map(async (w) => await w.stop('SIGKILL'))) })
  await waitFor('runs before the failover', () => app.deliveries.length >= 4 ? true : undefined, 15_000)
  const before = await sentinel.masterPort()
  await sentinel.failover()
  t.not(await sentinel.masterPort(), before, 'the replica is the master now')
  const switched = Date.now()
  await waitFor('5 ticks after the failover', () => app.deliveries.filter((d) => Date.parse(d.scheduledFor) > switched).length >= 5 ? true : undefined, 20_000)
  const byTick = new Map<string, Set<string>>()
  for (const d of app.deliveries) byTick.set(d.scheduledFor, (byTick.get(d.scheduledFor) ?? new Set()).add(d.taskId))
  t.same([...byTick.entries()].filter(([, ids]) => ids.size > 1).map(([tick]) => tick), [], 'no tick ran as two tasks')
  const times = [...byTick.keys()].map(Date.parse).sort((a, b) => a - b)
  const missing = (times[times.length - 1] - times[0]) / 250 + 1 - times.length
  t.ok(missing <= 8, `${missing} ticks not run across the failover (the clients' switch to the new master)`)
})
