import t from 'tap'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { runCli } from '../helpers/cli.js'
import { waitFor } from '../helpers/ports.js'
import { admin, startTaskApp, startWorker, waitForTask } from '../helpers/tasks.js'

t.test('on: every runs once on each live node that runs tasks', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const env = { PODSIDE_FLEET_HEARTBEAT: '300ms' }
  const args = ['--upstream', app.url, '--redis', redis.url]
  const workers = [await startWorker(args, env), await startWorker(args, env)]
  t.teardown(async () => { for (const w of workers) await w.stop() })
  await waitFor('both nodes in the fleet', async () => (await admin(workers[0].adminUrl, 'GET', '/v1/nodes')).body.live === 2 ? true : undefined)
  const r = await admin(workers[0].adminUrl, 'POST', '/v1/tasks', { name: 'reload', on: 'every', key: 'reload-1' })
  t.equal(r.status, 201)
  const task = await waitForTask(workers[1].adminUrl, r.body.id, (x) => x.state === 'done')
  t.equal(task.copies.length, 2)
  t.same(task.copies.map((c: any) => c.node).sort(), workers.map((w) => w.node).sort())
  const calls = app.calls.filter((c) => c.name === 'reload')
  t.same(calls.map((c) => c.node).sort(), workers.map((w) => w.node).sort(), 'each node called its app once')
  t.equal((await admin(workers[0].adminUrl, 'POST', '/v1/tasks', { name: 'reload', on: 'every', key: 'reload-1' })).status, 201, 'the key is free once every copy finished')

  const later = await admin(workers[0].adminUrl, 'POST', '/v1/tasks', { name: 'reload', on: 'every', delay: '1h' })
  t.match(await admin(workers[0].adminUrl, 'GET', `/v1/tasks/${later.body.id}`), { body: { state: 'delayed', copies: [{ state: 'delayed' }, { state: 'delayed' }] } })
  t.match(await admin(workers[0].adminUrl, 'DELETE', `/v1/tasks/${later.body.id}`), { status: 200, body: { state: 'cancelled' } })
  t.match(await admin(workers[0].adminUrl, 'POST', `/v1/tasks/${later.body.id}/retry`), { status: 200, body: { state: /queued|running|done/ } })
  await waitForTask(workers[0].adminUrl, later.body.id, (x) => x.state === 'done')
  const cli = await runCli(['tasks', 'add', 'reload', '--on', 'every', '--redis', redis.url])
  t.equal(cli.code, 0, cli.stderr)
  await waitForTask(workers[0].adminUrl, cli.stdout.trim(), (x) => x.state === 'done' && x.copies.length === 2)
})

t.test('without Redis, on: every runs on this node only', async (t) => {
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const w = await startWorker(['--upstream', app.url])
  t.teardown(async () => await w.stop())
  const r = await admin(w.adminUrl, 'POST', '/v1/tasks', { name: 'local', on: 'every' })
  const task = await waitForTask(w.adminUrl, r.body.id, (x) => x.state === 'done')
  t.match(task.copies, [{ node: w.node, state: 'done' }])
  t.match(await admin(w.adminUrl, 'GET', '/v1/nodes'), { status: 404, body: { error: { code: 'FLEET_ERR_NO_REDIS' } } })
})
