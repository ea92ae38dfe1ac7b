import http from 'node:http'
import { request } from 'undici'
import { serve, startPodside, type Daemon } from './processes.js'
import { waitFor } from './ports.js'

/** `podside tasks worker` as a real process on a free admin port; resolves once it listens. */
export async function startWorker (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Daemon & { node: string }> {
  const worker = await startPodside(['tasks', 'worker', '--admin-listen', '127.0.0.1:0', ...args], env, 'tasks worker')
  return Object.assign(worker, { node: worker.ready.node as string })
}

export interface TaskCall { name: string, id: string, attempt: number, node: string, headers: http.IncomingHttpHeaders, body: string, at: number, url: string }

/**
 * A real app over HTTP that records every task call. `answer` decides each answer (status,
 * headers, a delay); by default 200 at once.
 */
export async function startTaskApp (answer: (call: TaskCall, calls: TaskCall[]) => { status?: number, headers?: Record<string, string>, delayMs?: number, hold?: Promise<void> } = () => ({})) {
  const calls: TaskCall[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => { body += String(d) })
    req.on('end', () => {
      const h = req.headers
      const call: TaskCall = {
        name: String(h['podside-task-name']), id: String(h['podside-task-id']), attempt: Number(h['podside-task-attempt']),
        node: String(h['podside-node']), headers: h, body, at: Date.now(), url: req.url ?? ''
      }
      calls.push(call)
      const a = answer(call, calls)
      const send = (): void => { if (!res.destroyed) res.writeHead(a.status ?? 200, a.headers ?? {}).end('ok') }
      if (a.hold !== undefined) void a.hold.then(send)
      else if (a.delayMs !== undefined) setTimeout(send, a.delayMs)
      else send()
    })
  })
  const served = await serve(server)
  return { ...served, calls, port: Number(new URL(served.url).port) }
}

/** A JSON request to an admin listener. */
export async function admin (base: string, method: string, path: string, body?: unknown): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  const res = await request(new URL(path, base), {
    method: method as 'GET',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  })
  const text = await res.body.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch { /* not JSON */ }
  return { status: res.statusCode, body: parsed, headers: res.headers }
}

/** Polls the task until `check` holds for it, and returns it. */
export async function waitForTask (base: string, id: string, check: (task: any) => boolean, ms = 15_000): Promise<any> {
  return await waitFor(`task ${id}`, async () => {
    const r = await admin(base, 'GET', `/v1/tasks/${id}`)
    return r.status === 200 && check(r.body) ? r.body : undefined
  }, ms)
}
