import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { runCli } from '../../helpers/cli.js'
import { startDaemon } from '../../helpers/processes.js'
import { waitFor } from '../../helpers/ports.js'
import { startRedis, stopRedis } from '../../helpers/redis.js'
import { recordingApp, startWorker, type Delivery, type Worker } from './workers.js'

/**
 * Schedules across real `podside tasks worker` processes sharing a real redis-server, delivering
 * to a real app over HTTP. Short intervals keep each case to a few seconds.
 */
const dir = mkdtempSync(join(tmpdir(), 'podside-schedules-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function schedulesFile (name: string, schedules: Record<string, unknown>): string {
  const path = join(dir, name)
  writeFileSync(path, JSON.stringify({ schedules }))
  return path
}

async function fleet (t: Test, n: number, args: string[]): Promise<Worker[]> {
  const workers = await Promise.all(Array.from({ length: n }, async () => await startWorker(args)))
  t.teardown(async () => { await Promise.all(workers.map(async (w) => await w.stop('SIGKILL'))) })
  return workers
}

function byTick (deliveries: Delivery[]): Map<string, Delivery[]> {
  const m = new Map<string, Delivery[]>()
  for (const d of deliveries) m.set(d.scheduledFor, [...m.get(d.scheduledFor) ?? [], d])
  return m
}

t.test('every 1s on one node, 3 nodes restarted one after another: runs = elapsed ticks ± 1, never two for one tick', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await recordingApp()
  t.teardown(app.close)
  const file = schedulesFile('one.json', { tick: { every: '1s', on: 'one', overlap: 'allow', task: { name: 'tick' } } })
  const args = ['--upstream', app.url, '--redis', redis.url, '--schedules', file, '--log-level', 'info', '--shutdown-timeout', '2s']
  const workers = await fleet(t, 3, args)
  await waitFor('the first runs', () => app.deliveries.length >= 2 ? true : undefined, 10_000)
  // Rolling restart: each node in turn gets SIGTERM and a successor. (A 250 ms tick lost up to three
  // ticks here when the two live nodes were starved of CPU for a second while the third started on
  // a loaded 2-core machine: a fleet that runs nothing for a while skips to the newest tick.)
  const restarts: Array<[string, string]> = []
  const decisions: Array<Record<string, unknown>> = []
  for (let i = 0; i < workers.length; i++) {
    restarts.push(['stop', new Date().toISOString()])
    decisions.push(...workers[i].lines.filter((l) => l.msg === 'schedule tick'))
    t.equal(await workers[i].stop(), 0, `node ${i} stopped cleanly`)
    restarts.push(['stopped', new Date().toISOString()])
    workers[i] = await startWorker(args)
    restarts.push(['started', new Date().toISOString()])
  }
  const cut = Date.now() - 1000
  for (const w of workers) decisions.push(...w.lines.filter((l) => l.msg === 'schedule tick'))
  await waitFor('the ticks until the cut to be delivered', () => app.deliveries.some((d) => Date.parse(d.scheduledFor) >= cut) ? true : undefined, 10_000)
  const ticks = byTick(app.deliveries)
  const times = [...ticks.keys()].map(Date.parse).filter((ms) => ms <= cut).sort((a, b) => a - b)
  const expected = (times[times.length - 1] - times[0]) / 1000 + 1
  t.ok(Math.abs(times.length - expected) <= 1, `${times.length} runs for ${expected} ticks`)
  const missing: string[] = []
  for (let ms = times[0]; ms <= times[times.length - 1]; ms += 1000) if (!ticks.has(new Date(ms).toISOString())) missing.push(new Date(ms).toISOString())
  if (missing.length > 0) t.comment(`missing ${missing.join(', ')}; restarts ${JSON.stringify(restarts)}; decisions ${JSON.stringify(decisions.filter((d) => Math.abs(Date.parse(d.tick as string) - Date.parse(missing[0])) < 1500))}`)
  const doubled = [...ticks.entries()].filter(([, ds]) => new Set(ds.map((d) => d.taskId)).size > 1)
  t.same(doubled, [], 'never two runs for one tick')
  t.ok(new Set(app.deliveries.map((d) => d.node)).size >= 2, 'the ticks were spread over several nodes')
  t.teardown(() => { for (const w of workers) void w.stop('SIGKILL') })
})

t.test('on: every with 3 nodes: each node runs each tick once', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await recordingApp()
  t.teardown(app.close)
  const file = schedulesFile('every.json', { fan: { every: '500ms', on: 'every', overlap: 'allow', task: { name: 'fan' } } })
  const workers = await fleet(t, 3, ['--upstream', app.url, '--redis', redis.url, '--schedules', file, '--log-level', 'info'])
  const nodes = new Set(workers.map((w) => w.node))
  await waitFor('6 ticks that reached every node', () => [...byTick(app.deliveries).values()].filter((ds) => ds.length >= 3).length >= 6 ? true : undefined, 15_000)
  const full = [...byTick(app.deliveries).entries()].filter(([, ds]) => new Set(ds.map((d) => d.node)).size === 3)
  t.ok(full.length >= 6)
  for (const [tick, ds] of byTick(app.deliveries)) {
    const perNode = ds.map((d) => d.node).sort()
    t.same(perNode, [...new Set(perNode)], `tick ${tick}: no node twice`)
    t.ok(perNode.every((n) => nodes.has(n)))
  }
})

t.test('overlap: skip with a handler slower than the interval: never two runs at once, skipped ticks counted', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await recordingApp({ delayMs: 700 })
  t.teardown(app.close)
  const file = schedulesFile('skip.json', { slow: { every: '200ms', overlap: 'skip', task: { name: 'slow' } } })
  const workers = await fleet(t, 3, ['--upstream', app.url, '--redis', redis.url, '--schedules', file, '--log-level', 'info'])
  await waitFor('4 slow runs', () => app.deliveries.length >= 4 ? true : undefined, 15_000)
  t.equal(app.maxOpen(), 1, 'never two runs at once')
  const sorted = [...app.deliveries].sort((a, b) => a.start - b.start)
  for (let i = 1; i < sorted.length; i++) t.ok(sorted[i].start >= sorted[i - 1].end, `run ${i} started after run ${i - 1} ended`)
  let skipped = 0
  for (const w of workers) {
    const text = await (await request(`${w.adminUrl}/metrics`)).body.text()
    skipped += Number(/podside_schedule_runs_total\{schedule="slow",result="skipped"\} (\d+)/.exec(text)?.[1] ?? 0)
  }
  t.ok(skipped > 0, `${skipped} ticks skipped`)
  const listed = await (await request(`${workers[0].adminUrl}/v1/schedules`)).body.json() as { schedules: Array<{ name: string, lastRun: unknown }> }
  t.match(listed.schedules, [{ name: 'slow', lastRun: { result: /run|skipped|caught_up/ } }])
  const cli = await runCli(['tasks', 'schedules', '--redis', redis.url])
  t.equal(cli.code, 0, cli.stderr)
  t.match(cli.stdout, /^NAME\s+WHEN\s+ON\s+TASK\s+NEXT TICK\s+LAST RUN\s+RESULT\s+OUTCOME\nslow\s+every 200ms\s+one\s+slow\s+\d{4}-/)
})

t.test('a bad --schedules file: exit 2 naming the file and each bad field; nothing starts', async (t) => {
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, 'schedules:\n  a:\n    every: 5 minutes\n    task: { name: work }\n  b:\n    cron: "* * *"\n    tz: Nowhere/Land\n')
  const r = await runCli(['tasks', 'worker', '--upstream', 'http://127.0.0.1:1', '--schedules', file])
  t.equal(r.code, 2)
  t.match(r.stderr, `--schedules ${file}: schedules.a.every: expected a duration`)
  t.match(r.stderr, `--schedules ${file}: schedules.b.cron: expected a cron expression`)
  t.match(r.stderr, `--schedules ${file}: schedules.b.tz: expected an IANA time zone`)
  t.match(r.stderr, `--schedules ${file}: schedules.b.task: expected an object`)
  const missing = await runCli(['tasks', 'worker', '--upstream', 'http://127.0.0.1:1', '--schedules', join(dir, 'none.yaml')])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /cannot read the file: ENOENT/)
})

t.test('podside tasks schedules: none listed, JSON, and Redis away', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const empty = await runCli(['tasks', 'schedules', '--redis', redis.url])
  t.same([empty.code, empty.stdout], [0, `no schedule in ${redis.url}\n`])
  const json = await runCli(['tasks', 'schedules', '--redis', redis.url, '--json'])
  t.same(JSON.parse(json.stdout), { schedules: [] })
  t.equal((await runCli(['tasks', 'schedules', 'extra', '--redis', redis.url])).code, 2)
  t.equal((await runCli(['tasks', 'schedules'])).code, 2, '--redis is required')
  await redis.stop()
  const away = await runCli(['tasks', 'schedules', '--redis', redis.url, '--redis-timeout', '200ms'])
  t.equal(away.code, 1)
  t.match(away.stderr, /podside tasks schedules: cannot reach Redis/)
})

t.test('podside gateway --tasks --schedules: the gateway runs the schedule and answers /v1/schedules', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await recordingApp()
  t.teardown(app.close)
  const file = schedulesFile('gw.yaml', { gw: { every: '200ms', overlap: 'allow', task: { name: 'gw', payload: { from: 'gateway' } } } })
  const gw = await startDaemon('gateway', ['--upstream', app.url, '--redis', redis.url, '--secret', 'a-secret-of-at-least-32-characters-0123', '--tasks', '--schedules', file])
  t.teardown(async () => { await gw.stop() })
  await waitFor('two runs through the gateway', () => app.deliveries.length >= 2 ? true : undefined, 15_000)
  const listed = await (await request(`${gw.adminUrl}/v1/schedules`)).body.json() as { schedules: Array<{ name: string }> }
  t.same(listed.schedules.map((s) => s.name), ['gw'])
  t.equal(await gw.stop(), 0, 'stops cleanly')
  const without = await runCli(['gateway', '--upstream', app.url, '--schedules', file])
  t.equal(without.code, 2)
  t.match(without.stderr, /--schedules \(PODSIDE_SCHEDULES\): schedules need --tasks/)
})

t.test('without --redis: one node runs its file\'s schedules from memory, and the API changes them', async (t) => {
  const app = await recordingApp()
  t.teardown(app.close)
  const file = schedulesFile('memory.json', { solo: { every: '200ms', overlap: 'allow', task: { name: 'solo' } } })
  const [worker] = await fleet(t, 1, ['--upstream', app.url, '--schedules', file, '--log-level', 'info'])
  await waitFor('runs from memory', () => app.deliveries.length >= 3 ? true : undefined, 15_000)
  t.equal(new Set(app.deliveries.map((d) => d.scheduledFor)).size, app.deliveries.length, 'one run per tick')
  const put = await request(`${worker.adminUrl}/v1/schedules/added`, { method: 'PUT', body: JSON.stringify({ every: '200ms', overlap: 'allow', task: { name: 'added' } }) })
  t.equal(put.statusCode, 201)
  await put.body.dump()
  const del = await request(`${worker.adminUrl}/v1/schedules/solo`, { method: 'DELETE' })
  t.equal(del.statusCode, 204)
  await del.body.dump()
  await waitFor('the added schedule to run', async () => {
    const listed = await (await request(`${worker.adminUrl}/v1/schedules`)).body.json() as { schedules: Array<{ name: string, lastRun: unknown }> }
    return listed.schedules.length === 1 && listed.schedules[0].name === 'added' && listed.schedules[0].lastRun !== null ? true : undefined
  }, 10_000)
  t.pass('PUT and DELETE took effect on the running node')
})
