import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendJson, type AdminRoute } from '../shared/admin-server.js'
import { sendError } from '../shared/error-response.js'
import { PodsideError } from '../shared/errors.js'
import type { Logger } from '../shared/logger.js'
import { BadTask, PayloadTooLarge, TaskMethodNotAllowed, TaskNotFound, TaskStoreUnavailable } from './errors.js'
import { TASK_ID } from './queue.js'
import { tasksLimits } from './settings.js'
import { TASK_STATES, type TaskQueue, type TaskRecord, type TaskState } from './task-queue.js'
import { validateTask } from './validate-task.js'

/**
 * The task API of the admin listener:
 *   POST /v1/tasks, GET /v1/tasks?state=S&limit=N, GET|DELETE /v1/tasks/<id>, POST /v1/tasks/<id>/retry
 * A failure of Redis is a 503 with Retry-After: every write is one script, so nothing is half-written.
 */
export function taskRoutes (queue: TaskQueue, log: Logger, onStoreError: (err: unknown) => void = () => {}): AdminRoute {
  return async (req, res, url) => {
    if (url.pathname !== '/v1/tasks' && !url.pathname.startsWith('/v1/tasks/')) return false
    try {
      await route(req, res, url)
    } catch (err) {
      if (!(err instanceof PodsideError)) {
        log.warn({ err, path: url.pathname }, 'task API: the store failed')
        onStoreError(err)
      }
      sendError(res, err instanceof PodsideError ? err : new TaskStoreUnavailable(), { retryAfterSeconds: tasksLimits.retryAfterSeconds })
    }
    return true
  }

  async function route (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (url.pathname === '/v1/tasks') {
      if (req.method === 'POST') return await add(req, res)
      if (req.method === 'GET') return await list(res, url)
      return notAllowed(res, 'GET, POST')
    }
    const m = /^\/v1\/tasks\/([^/]+)(\/retry)?$/.exec(url.pathname)
    if (m === null) throw new TaskNotFound('no such task route')
    const id = m[1]
    if (!TASK_ID.test(id)) throw new TaskNotFound(`no task ${id}`)
    if (m[2] !== undefined) {
      if (req.method !== 'POST') return notAllowed(res, 'POST')
      return sendJson(res, 200, describeTask(await queue.retry(id)))
    }
    if (req.method === 'GET') {
      const rec = await queue.get(id)
      if (rec === undefined) throw new TaskNotFound(`no task ${id}`)
      return sendJson(res, 200, describeTask(rec))
    }
    if (req.method === 'DELETE') return sendJson(res, 200, describeTask(await queue.cancel(id)))
    return notAllowed(res, 'GET, DELETE')
  }

  async function add (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req, tasksLimits.maxBodyBytes)
    let body: unknown
    try { body = JSON.parse(text) } catch { return badTask(res, [{ field: 'body', problem: 'expected a JSON object' }]) }
    const checked = validateTask(body)
    if ('problems' in checked) return badTask(res, checked.problems)
    if (Buffer.byteLength(checked.task.payload ?? '') > tasksLimits.maxPayloadBytes) throw new PayloadTooLarge()
    const r = await queue.add(checked.task)
    sendJson(res, r.duplicate === true ? 200 : 201, r)
  }

  async function list (res: ServerResponse, url: URL): Promise<void> {
    const state = url.searchParams.get('state') ?? 'dead'
    const limitText = url.searchParams.get('limit') ?? String(tasksLimits.listLimit)
    const limit = Number(limitText)
    const problems = []
    if (!(TASK_STATES as readonly string[]).includes(state)) problems.push({ field: 'state', problem: `expected one of ${TASK_STATES.join(', ')}` })
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > tasksLimits.maxListLimit) problems.push({ field: 'limit', problem: `expected a whole number from 1 to ${tasksLimits.maxListLimit}` })
    if (problems.length > 0) return badTask(res, problems)
    sendJson(res, 200, { tasks: (await queue.list(state as TaskState, limit)).map(describeTask) })
  }
}

function notAllowed (res: ServerResponse, allow: string): void {
  sendError(res, new TaskMethodNotAllowed(`expected ${allow}`), { headers: { allow } })
}

function badTask (res: ServerResponse, fields: Array<{ field: string, problem: string }>): void {
  const err = new BadTask(`invalid task: ${fields.map((f) => `${f.field}: ${f.problem}`).join('; ')}`)
  sendJson(res, 400, { error: { code: err.code, message: err.message, fields } })
}

async function readBody (req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > max) { req.resume(); throw new PayloadTooLarge() }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > max) { req.resume(); throw new PayloadTooLarge() }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** A record as the API answers it: times in RFC 3339, no payload. */
export function describeTask (rec: TaskRecord): Record<string, unknown> {
  const iso = (ms: number | undefined): string | undefined => ms === undefined ? undefined : new Date(ms).toISOString()
  return {
    id: rec.id,
    name: rec.name,
    state: rec.state,
    on: rec.on,
    key: rec.key,
    node: rec.node,
    schedule: rec.schedule,
    scheduledFor: rec.scheduledFor,
    maxAttempts: rec.maxAttempts,
    timeoutMs: rec.timeoutMs,
    createdAt: iso(rec.createdAt),
    dueAt: iso(rec.dueAt),
    finishedAt: iso(rec.finishedAt),
    attempts: rec.attempts.map((a) => ({ ...a, start: iso(a.start) })),
    ...rec.copies === undefined ? {} : { copies: rec.copies.map(describeTask) }
  }
}
