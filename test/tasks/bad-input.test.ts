import t, { type Test } from 'tap'
import { request } from 'undici'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startDaemon } from '../helpers/processes.js'
import { admin, startTaskApp, startWorker, waitForTask } from '../helpers/tasks.js'
import { waitFor } from '../helpers/ports.js'

/** A worker with a short --redis-timeout on a Redis of its own (the tests pause and stop it), and an app. */
async function workerOnItsOwnRedis (t: Test) {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const worker = await startWorker(['--upstream', app.url, '--redis', redis.url, '--redis-timeout', '300ms'])
  t.teardown(async () => await worker.stop())
  return { redis, app, worker }
}

t.test('the task API refuses bad input whole', async (t) => {
  const { redis, worker } = await workerOnItsOwnRedis(t)
  const base = worker.adminUrl

  t.test('one 400 names every bad field', async (t) => {
    const r = await admin(base, 'POST', '/v1/tasks', { name: 'a b', on: 'all', delay: 'soon', at: 'tomorrow', timeout: 0, maxAttempts: 0, key: '', colour: 'red' })
    t.equal(r.status, 400)
    t.equal(r.body.error.code, 'TASK_ERR_BAD_TASK')
    t.same(r.body.error.fields.map((f: any) => f.field).sort(), ['at', 'at', 'colour', 'delay', 'key', 'maxAttempts', 'name', 'on', 'timeout'])
    t.match(await admin(base, 'POST', '/v1/tasks', 'not json'), { status: 400, body: { error: { fields: [{ field: 'body' }] } } })
    t.match(await admin(base, 'POST', '/v1/tasks', '[1]'), { status: 400, body: { error: { fields: [{ field: 'body' }] } } })
    t.match(await admin(base, 'GET', '/v1/tasks?state=lost&limit=0'), { status: 400, body: { error: { fields: [{ field: 'state' }, { field: 'limit' }] } } })
    t.match(await admin(base, 'PUT', '/v1/tasks'), { status: 405, headers: { allow: 'GET, POST' } })
    t.match(await admin(base, 'GET', '/v1/tasks/xyz'), { status: 404, body: { error: { code: 'TASK_ERR_NOT_FOUND' } } })
    t.match(await admin(base, 'GET', '/v1/tasks/a/b/c'), { status: 404 })
  })

  t.test('a payload over 1 MiB is 413, and so is a body too large to read', async (t) => {
    t.match(await admin(base, 'POST', '/v1/tasks', { name: 'big', payload: 'x'.repeat(1024 * 1024) }), { status: 413, body: { error: { code: 'TASK_ERR_PAYLOAD_TOO_LARGE' } } })
    t.match(await admin(base, 'POST', '/v1/tasks', { name: 'fits', payload: 'x'.repeat(1024 * 1024 - 2) }), { status: 201 })
    const huge = await request(new URL('/v1/tasks', base), { method: 'POST', body: Buffer.alloc(3 * 1024 * 1024, 32) })
    t.equal(huge.statusCode, 413)
    await huge.body.dump()
  })

  t.test('Redis away: 503 with Retry-After, and nothing written', async (t) => {
    const client = redis.client()
    client.on('error', () => {}) // it sees the server stop below
    const before = (await client.keys('podside:tasks:*')).length
    await redis.pause()
    const r = await admin(base, 'POST', '/v1/tasks', { name: 'lost', key: 'lost-key' })
    t.match(r, { status: 503, headers: { 'retry-after': '1' }, body: { error: { code: 'TASK_ERR_STORE_UNAVAILABLE' } } })
    await redis.resume()
    await redis.stop()
    t.match(await admin(base, 'POST', '/v1/tasks', { name: 'lost', key: 'lost-key' }), { status: 503 })
    t.match(await admin(base, 'GET', '/readyz'), { status: 503 })
    await redis.start()
    // The restarted server is empty; the paused one's keys were checked by count before it stopped.
    const fresh = redis.client()
    await waitFor('the worker to reconnect', async () => (await admin(base, 'GET', '/readyz')).status === 200 ? true : undefined)
    t.equal((await fresh.keys('podside:tasks:*:key:lost-key')).length, 0)
    const ok = await admin(base, 'POST', '/v1/tasks', { name: 'after' })
    t.equal(ok.status, 201)
    await waitForTask(base, ok.body.id, (x) => x.state === 'done')
    t.ok(before >= 0)
  })
})

/**
 * A paused server's kernel has already taken the bytes of the script: when it resumes, the script
 * may run whole (a POST answered 503 can still land: a key makes the client's retry safe), but it
 * never lands in part.
 */
t.test('Redis paused mid-write: 503, and the task is whole or absent afterwards, never half-written', async (t) => {
  const { redis, app, worker } = await workerOnItsOwnRedis(t)
  await redis.pause()
  const r = await admin(worker.adminUrl, 'POST', '/v1/tasks', { name: 'ghost', key: 'ghost-key' })
  t.equal(r.status, 503)
  await redis.resume()
  await waitFor('the worker to reconnect', async () => (await admin(worker.adminUrl, 'GET', '/readyz')).status === 200 ? true : undefined)
  const client = redis.client()
  const holder = await client.get('podside:tasks:{default}:key:ghost-key')
  if (holder === null) {
    t.same(await client.keys('podside:tasks:{default}:task:*'), [], 'no record without its key')
    t.equal(app.calls.filter((c) => c.name === 'ghost').length, 0, 'the app never got it')
  } else {
    const task = await waitForTask(worker.adminUrl, holder, (x) => x.state === 'done')
    t.equal(task.key, 'ghost-key', 'record and key written together')
    t.equal(app.calls.filter((c) => c.name === 'ghost').length, 1, 'run once')
  }
  // A retry of the POST with the same key is then safe either way.
  const again = await admin(worker.adminUrl, 'POST', '/v1/tasks', { name: 'ghost', key: 'ghost-key' })
  t.ok(again.status === 201 || again.status === 200)
})

t.test('gateway --tasks: the task API on its admin listener, the task endpoints closed to the public', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const app = await startTaskApp()
  t.teardown(async () => await app.close())
  const gw = await startDaemon('gateway', ['--upstream', app.url, '--redis', redis.url, '--secret', 'x'.repeat(32), '--tasks'])
  t.teardown(async () => await gw.stop())
  const added = await admin(gw.adminUrl, 'POST', '/v1/tasks', { name: 'via-gateway', payload: { n: 1 } })
  t.equal(added.status, 201)
  await waitForTask(gw.adminUrl, added.body.id, (x) => x.state === 'done')
  t.equal(app.calls.find((c) => c.name === 'via-gateway')?.body, '{"n":1}')
  const nodes = await admin(gw.adminUrl, 'GET', '/v1/nodes')
  t.match(nodes.body.nodes, [{ role: 'gateway', tasksRunning: 0 }])

  for (const path of ['/_podside/tasks/via-gateway', '/_podside/tasks', '/_PODSIDE/Tasks/x', '/%5Fpodside/tasks/x', '/_podside%2Ftasks/x', '//_podside//tasks/x', '/a/../_podside/tasks/x', '/_podside/./tasks/x?y=1']) {
    const res = await request(gw.url + path, { method: 'POST', headers: { 'podside-task-id': 'forged' }, body: '{}' })
    t.equal(res.statusCode, 404, path)
    await res.body.dump()
  }
  const before = app.calls.length
  const res = await request(gw.url + '/_podside/tasksfoo', { method: 'POST', headers: { 'Podside-Task-Id': 'forged', 'podside_task_name': 'forged', 'Podside-Task-Attempt': '1', 'podside-node': 'x' }, body: '{}' })
  await res.body.dump()
  t.equal(res.statusCode, 200, 'a path that only begins alike is the app\'s')
  t.equal(app.calls.length, before + 1)
  const seen = app.calls[app.calls.length - 1].headers
  t.same(Object.keys(seen).filter((h) => h.startsWith('podside')), [], 'no Podside-* header reaches the app from the public')
})
