import t from 'tap'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { admin, startTaskApp, startWorker, waitForTask } from '../helpers/tasks.js'
import { runCli } from '../helpers/cli.js'
import { freePort } from '../helpers/ports.js'

/**
 * What the app's answer does to a task, through a real worker process, a real Redis and a real
 * app. The payload tells the app how to answer each call: `{"answers":[{status, headers, delayMs}…]}`,
 * the last one repeated.
 */
interface Answer { status?: number, headers?: Record<string, string>, delayMs?: number }

t.test('outcomes of the app\'s answers', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const app = await startTaskApp((call, calls) => {
    if (call.name === 'hold') return { hold: held }
    const answers = (JSON.parse(call.body || '{}') as { answers?: Answer[] }).answers ?? [{}]
    const n = calls.filter((c) => c.id === call.id).length
    return answers[Math.min(n, answers.length) - 1]
  })
  t.teardown(async () => { release(); await app.close() })
  const worker = await startWorker(['--upstream', app.url, '--redis', redis.url, '--tasks-backoff', '10ms..50ms', '--tasks-max-attempts', '4', '--tasks-timeout', '5s'])
  t.teardown(async () => await worker.stop())
  const base = worker.adminUrl
  const add = async (name: string, answers: Answer[], extra: Record<string, unknown> = {}): Promise<string> => {
    const r = await admin(base, 'POST', '/v1/tasks', { name, payload: { answers }, ...extra })
    t.equal(r.status, 201, `${name} added`)
    return r.body.id as string
  }
  const finished = (task: any): boolean => task.state === 'done' || task.state === 'dead'

  t.test('2xx: done after one call, with every Podside-Task header', async (t) => {
    const id = await add('ok', [{ status: 204 }], { key: 'k-ok' })
    const task = await waitForTask(base, id, finished)
    t.match(task, { state: 'done', attempts: [{ n: 1, outcome: 'done', status: 204, node: worker.node }] })
    const call = app.calls.find((c) => c.id === id)!
    t.equal(call.url, '/_podside/tasks/ok')
    t.match(call.headers, { 'podside-task-name': 'ok', 'podside-task-attempt': '1', 'podside-task-max-attempts': '4', 'podside-task-key': 'k-ok', 'podside-node': worker.node, 'content-type': 'application/json' })
    t.ok(Date.parse(String(call.headers['podside-task-deadline'])) > call.at, 'the deadline is ahead')
    t.same(JSON.parse(call.body), { answers: [{ status: 204 }] }, 'the payload is the body')
  })

  t.test('5xx, 408, 425 and 429 are retried; then done', async (t) => {
    const id = await add('flaky', [{ status: 500 }, { status: 503 }, { status: 429 }, { status: 200 }])
    const task = await waitForTask(base, id, finished)
    t.match(task, { state: 'done', attempts: [{ outcome: 'retry', status: 500 }, { outcome: 'retry', status: 503 }, { outcome: 'retry', status: 429 }, { outcome: 'done' }] })
    const id2 = await add('flaky2', [{ status: 408 }, { status: 425 }, { status: 200 }])
    t.match(await waitForTask(base, id2, finished), { state: 'done', attempts: [{ status: 408 }, { status: 425 }, { status: 200 }] })
  })

  t.test('Retry-After is honoured, up to the backoff\'s maximum', async (t) => {
    const id = await add('later', [{ status: 429, headers: { 'retry-after': '3600' } }, { status: 200 }])
    const task = await waitForTask(base, id, finished)
    t.equal(task.state, 'done', 'an hour\'s Retry-After waited the backoff maximum (50 ms), not an hour')
    t.equal(task.attempts.length, 2)
  })

  t.test('the last retry makes the task dead', async (t) => {
    const id = await add('always500', [{ status: 500 }])
    const task = await waitForTask(base, id, finished)
    t.equal(task.state, 'dead')
    t.same(task.attempts.map((a: any) => a.outcome), ['retry', 'retry', 'retry', 'dead'])
    t.match(task.attempts[3].error, /last of 4 attempts/)
  })

  t.test('any other 4xx is dead at once', async (t) => {
    for (const status of [400, 404, 410, 422]) {
      const id = await add(`gone${status}`, [{ status }, { status: 200 }])
      const task = await waitForTask(base, id, finished)
      t.match(task, { state: 'dead', attempts: [{ outcome: 'dead', status }] }, `${status}`)
      t.equal(task.attempts.length, 1)
    }
  })

  t.test('Podside-Task-Result overrides the status', async (t) => {
    const retry = await add('ov-retry', [{ status: 200, headers: { 'podside-task-result': 'retry' } }, { status: 200 }])
    t.same((await waitForTask(base, retry, finished)).attempts.map((a: any) => a.outcome), ['retry', 'done'])
    const dead = await add('ov-dead', [{ status: 500, headers: { 'podside-task-result': 'dead' } }])
    t.match(await waitForTask(base, dead, finished), { state: 'dead', attempts: [{ status: 500, outcome: 'dead' }] })
    const done = await add('ov-done', [{ status: 404, headers: { 'podside-task-result': 'DONE' } }])
    t.match(await waitForTask(base, done, finished), { state: 'done', attempts: [{ status: 404, outcome: 'done' }] })
  })

  t.test('a call longer than its timeout is aborted and retried', async (t) => {
    const id = await add('slow', [{ delayMs: 3000 }, { status: 200 }], { timeout: '300ms' })
    const task = await waitForTask(base, id, finished)
    t.match(task, { state: 'done', attempts: [{ outcome: 'retry', error: /timeout/ }, { outcome: 'done' }] })
  })

  t.test('dead tasks are listed, retried and cancelled through the API', async (t) => {
    const id = await add('fixme', [{ status: 404 }, { status: 200 }])
    await waitForTask(base, id, (x) => x.state === 'dead')
    const listed = await admin(base, 'GET', '/v1/tasks?state=dead&limit=100')
    t.ok(listed.body.tasks.some((x: any) => x.id === id), 'listed as dead')
    t.match(await admin(base, 'POST', `/v1/tasks/${id}/retry`), { status: 200, body: { id, state: /queued|running|done/, attempts: [{ status: 404 }] } })
    t.match(await waitForTask(base, id, finished), { state: 'done' })
    t.match(await admin(base, 'POST', `/v1/tasks/${id}/retry`), { status: 409, body: { error: { code: 'TASK_ERR_NOT_RETRYABLE' } } })
    const dead = await add('fixme2', [{ status: 404 }])
    await waitForTask(base, dead, (x) => x.state === 'dead')
    t.match(await admin(base, 'DELETE', `/v1/tasks/${dead}`), { status: 200, body: { state: 'cancelled' } })
    t.notOk((await admin(base, 'GET', '/v1/tasks?state=dead')).body.tasks.some((x: any) => x.id === dead))
  })

  t.test('a delayed task can be cancelled; a running one is 409', async (t) => {
    const later = await add('never', [{}], { delay: '1h' })
    t.match(await admin(base, 'GET', `/v1/tasks/${later}`), { body: { state: 'delayed' } })
    t.match(await admin(base, 'DELETE', `/v1/tasks/${later}`), { status: 200, body: { state: 'cancelled' } })
    const running = await add('hold', [])
    await waitForTask(base, running, (x) => x.state === 'running')
    t.match(await admin(base, 'DELETE', `/v1/tasks/${running}`), { status: 409, body: { error: { code: 'TASK_ERR_RUNNING' } } })
    release()
    t.match(await waitForTask(base, running, finished), { state: 'done' })
    t.match(await admin(base, 'GET', `/v1/tasks/${'0'.repeat(32)}`), { status: 404, body: { error: { code: 'TASK_ERR_NOT_FOUND' } } })
  })

  t.test('an idempotency key gives one task', async (t) => {
    const first = await admin(base, 'POST', '/v1/tasks', { name: 'once', key: 'order-42', delay: '300ms' })
    const second = await admin(base, 'POST', '/v1/tasks', { name: 'once', key: 'order-42' })
    t.equal(first.status, 201)
    t.match(second, { status: 200, body: { id: first.body.id, duplicate: true } })
    await waitForTask(base, first.body.id, finished)
    t.equal(app.calls.filter((c) => c.name === 'once').length, 1)
  })

  t.test('the CLI lists, shows, retries and cancels', async (t) => {
    const r = ['--redis', redis.url]
    const added = await runCli(['tasks', 'add', 'cli-task', '--payload', '{"answers":[{"status":404},{"status":200}]}', ...r])
    t.equal(added.code, 0, added.stderr)
    const id = added.stdout.trim()
    await waitForTask(base, id, (x) => x.state === 'dead')
    const list = await runCli(['tasks', 'list', '--state', 'dead', ...r])
    t.equal(list.code, 0)
    t.match(list.stdout, `${id} dead cli-task`)
    const show = await runCli(['tasks', 'show', id, ...r])
    t.match(JSON.parse(show.stdout), { id, state: 'dead', attempts: [{ status: 404 }] })
    t.match(await runCli(['tasks', 'retry', id, ...r]), { code: 0, stdout: new RegExp(`^${id} (queued|running|done)\n`) })
    await waitForTask(base, id, (x) => x.state === 'done')
    const later = (await runCli(['tasks', 'add', 'cli-later', '--delay', '1h', '--key', 'cli-k', ...r])).stdout.trim()
    t.match(await runCli(['tasks', 'add', 'cli-later', '--key', 'cli-k', ...r]), { code: 0, stdout: new RegExp(`^${later} \\(duplicate`) })
    t.match(await runCli(['tasks', 'cancel', later, ...r]), { code: 0, stdout: `${later} cancelled\n` })
    t.match(await runCli(['tasks', 'show', '0'.repeat(32), ...r]), { code: 1 })
    t.match(await runCli(['tasks', 'retry', id, ...r]), { code: 1, stderr: /TASK_ERR_NOT_RETRYABLE/ })
    t.match(await runCli(['tasks', 'show', 'nope', ...r]), { code: 2 })
    t.match(await runCli(['tasks', 'add', 'bad name', ...r]), { code: 2 })
    t.match(await runCli(['tasks', 'add', 'x', '--payload', '{', ...r]), { code: 2 })
    t.match(await runCli(['tasks', 'list']), { code: 2, stderr: /--redis/ })
    t.match(await runCli(['tasks', 'frobnicate']), { code: 2 })
    t.match(await runCli(['tasks', '--help']), { code: 0, stdout: /worker/ })
    for (const sub of ['worker', 'add']) t.match(await runCli(['tasks', sub, '--help']), { code: 0, stdout: /Usage: podside tasks/ }, `${sub} --help`)
  })
})

t.test('a refused connection is retried, then dead', async (t) => {
  const redis = await startRedis()
  t.teardown(async () => await stopRedis(redis))
  const port = await freePort()
  const worker = await startWorker(['--upstream', `http://127.0.0.1:${port}`, '--redis', redis.url, '--tasks-backoff', '10ms..20ms', '--tasks-max-attempts', '2'])
  t.teardown(async () => await worker.stop())
  const r = await admin(worker.adminUrl, 'POST', '/v1/tasks', { name: 'nobody' })
  const task = await waitForTask(worker.adminUrl, r.body.id, (x) => x.state === 'dead')
  t.match(task.attempts, [{ outcome: 'retry', error: 'connection refused' }, { outcome: 'dead', error: /connection refused/ }])
  const metrics = await admin(worker.adminUrl, 'GET', '/metrics')
  t.match(metrics.body, /podside_tasks_finished_total\{name="nobody",result="retry"\} 2/)
  t.match(metrics.body, /podside_tasks_queued\{state="dead"\} 1/)
})
