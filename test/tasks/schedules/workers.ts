import http from 'node:http'
import { serve } from '../../helpers/processes.js'
import { startWorker } from '../../helpers/tasks.js'

/** One `podside tasks worker` process, started from dist/ like an operator would. */
export { startWorker }
export type Worker = Awaited<ReturnType<typeof startWorker>>

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
