import type { IncomingMessage } from 'node:http'
import { sendJson, type AdminRoute } from '../../shared/admin-server.js'
import { sendError } from '../../shared/error-response.js'
import { PodsideError } from '../../shared/errors.js'
import { ScheduleBadRequest, ScheduleMethodNotAllowed, ScheduleNotFound, ScheduleTooLarge, ScheduleUnavailable } from './errors.js'
import { parseSchedule, scheduleJson } from './schedule.js'
import type { ScheduleStore } from './schedule-store.js'
import { viewSchedules } from './schedule-view.js'
import type { Scheduler } from './scheduler.js'
import type { ScheduleQueue } from './task-queue-port.js'

/** Largest PUT body: a task payload may be up to 1 MiB (DESIGN), plus the schedule around it. */
const MAX_BODY_BYTES = 1024 * 1024 + 16 * 1024 // 1 MiB + 16 KiB

/**
 * The schedule API of the admin listener (DESIGN "Network tasks"):
 *   GET /v1/schedules, GET|PUT|DELETE /v1/schedules/<name>, POST /v1/schedules/<name>/trigger
 * PUT and DELETE are idempotent: the same definition again keeps the schedule's ticks.
 */
export function scheduleRoutes (deps: { store: ScheduleStore, scheduler: Scheduler, queue: Pick<ScheduleQueue, 'get'>, retryAfterSeconds: number }): AdminRoute {
  const { store, scheduler } = deps
  return async (req, res, url) => {
    const m = /^\/v1\/schedules(?:\/([^/]+)(\/trigger)?)?$/.exec(url.pathname)
    if (m === null) return false
    const [, rawName, trigger] = m
    const allowed = rawName === undefined ? 'GET' : trigger !== undefined ? 'POST' : 'GET, PUT, DELETE'
    if (!allowed.split(', ').includes(req.method ?? '')) {
      sendError(res, new ScheduleMethodNotAllowed(allowed), { headers: { allow: allowed } })
      return true
    }
    try {
      if (rawName === undefined) {
        const [states, now] = await Promise.all([store.list(), store.now()])
        sendJson(res, 200, { schedules: await viewSchedules(states, now, deps.queue) })
        return true
      }
      const name = decodePart(rawName)
      if (trigger !== undefined) {
        const task = await scheduler.trigger(name)
        if (task === undefined) throw new ScheduleNotFound(`no schedule named ${JSON.stringify(name)}`)
        sendJson(res, 201, task)
      } else if (req.method === 'GET') {
        const [state, now] = await Promise.all([store.get(name), store.now()])
        if (state === undefined) throw new ScheduleNotFound(`no schedule named ${JSON.stringify(name)}`)
        sendJson(res, 200, (await viewSchedules([state], now, deps.queue))[0])
      } else if (req.method === 'DELETE') {
        await store.delete(name)
        res.writeHead(204).end()
      } else {
        const schedule = parseSchedule(name, await readJson(req), 'schedule')
        if (Array.isArray(schedule)) throw new ScheduleBadRequest(`invalid schedule: ${schedule.join('; ')}`)
        const change = await store.put(schedule)
        sendJson(res, change === 'created' ? 201 : 200, { name, change, definition: scheduleJson(schedule) })
      }
    } catch (err) {
      // Anything but our own errors came from the store: Redis did not answer, nothing was changed.
      sendError(res, err instanceof PodsideError ? err : new ScheduleUnavailable(), { retryAfterSeconds: deps.retryAfterSeconds })
    }
    return true
  }
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new ScheduleTooLarge(`a schedule is at most ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ScheduleBadRequest('the body is not JSON')
  }
}

function decodePart (part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new ScheduleBadRequest('malformed percent-encoding in the path')
  }
}
