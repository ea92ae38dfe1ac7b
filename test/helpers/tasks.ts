import { spawn } from 'node:child_process'
import http from 'node:http'
import { createInterface } from 'node:readline'
import { request } from 'undici'
import { CLI, serve, type Daemon } from './processes.js'
import { waitFor } from './ports.js'

/** `podside tasks worker` as a real process on a free admin port; resolves once it listens. */
export async function startWorker (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Daemon & { node: string }> {
  const child = spawn(process.execPath, [CLI, 'tasks', 'worker', '--admin-listen', '127.0.0.1:0', ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: Array<Record<string, unknown>> = []
  let raw = ''
  child.stderr?.on('data', (d) => { raw += String(d) })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    raw += line + '\n'
    try { lines.push(JSON.parse(line)) } catch { /* kept in raw */ }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  process.once('exit', () => child.kill('SIGKILL'))
  const ready = await Promise.race([
    waitFor('tasks worker to listen', () => lines.find((l) => l.msg === 'tasks worker listening'), 15_000),
    exited.then((code) => { throw new Error(`podside tasks worker exited with ${code} before listening:\n${raw}`) })
  ])
  return {
    url: ready.url as string,
    adminUrl: ready.adminUrl as string,
    node: ready.node as string,
    child,
    lines,
    output: () => raw,
    async stop (signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      return await exited
    }
  }
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
