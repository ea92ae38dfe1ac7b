import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { createInterface } from 'node:readline'
import { CLI, serve } from '../../helpers/processes.js'
import { waitFor } from '../../helpers/ports.js'

/** One `podside tasks worker` process, started from dist/ like an operator would. */
export interface Worker {
  adminUrl: string
  node: string
  lines: Array<Record<string, unknown>>
  child: ChildProcess
  stop (signal?: NodeJS.Signals): Promise<number | null>
}

export async function startWorker (args: string[]): Promise<Worker> {
  const child = spawn(process.execPath, [CLI, 'tasks', 'worker', '--admin-listen', '127.0.0.1:0', ...args], {
    env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe']
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
    waitFor('the worker to listen', () => lines.find((l) => l.msg === 'tasks worker listening'), 15_000),
    exited.then((code) => { throw new Error(`podside tasks worker exited with ${code} before listening:\n${raw}`) })
  ])
  return {
    adminUrl: ready.adminUrl as string,
    node: ready.node as string,
    lines,
    child,
    async stop (signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode
      child.kill(signal)
      return await exited
    }
  }
}

export interface Delivery { scheduledFor: string, node: string, taskId: string, start: number, end: number }

/**
 * An app that records every task delivered to it (`POST /_podside/tasks/<name>`), with the
 * headers a schedule's run is told by, and answers after `delayMs`.
 */
export async function recordingApp (opts: { delayMs?: number } = {}) {
  const deliveries: Delivery[] = []
  let open = 0
  let maxOpen = 0
  const server = http.createServer((req, res) => {
    const start = Date.now()
    open++
    maxOpen = Math.max(maxOpen, open)
    req.resume()
    req.on('end', () => {
      setTimeout(() => {
        open--
        deliveries.push({
          scheduledFor: String(req.headers['podside-task-scheduled-for']),
          node: String(req.headers['podside-node']),
          taskId: String(req.headers['podside-task-id']),
          start,
          end: Date.now()
        })
        res.writeHead(200).end()
      }, opts.delayMs ?? 0)
    })
  })
  const served = await serve(server)
  return { url: served.url, deliveries, maxOpen: () => maxOpen, close: served.close }
}
