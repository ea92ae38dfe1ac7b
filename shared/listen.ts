import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { ListenAddress } from './address.js'
import { formatHostPort } from './address.js'
import { ListenFailed } from './common-errors.js'
import { InflightList } from './inflight-list.js'

/**
 * Listens and resolves with the URL actually bound (port 0 becomes the real port). A failure is
 * ERR_LISTEN naming `setting` and the address, which the CLI prints as one line.
 */
export async function listen (server: Server, at: ListenAddress, setting: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EADDRNOTAVAIL' ? 'the address is not on this host' : err.code === 'EACCES' ? 'permission denied' : err.message
      reject(new ListenFailed(`cannot listen on ${setting} ${formatHostPort(at.host, at.port)}: ${why}`, { cause: err }))
    }
    server.once('error', fail)
    server.listen(at.port, at.host, () => { server.off('error', fail); resolve() })
  })
  const addr = server.address() as AddressInfo
  return `http://${formatHostPort(addr.address, addr.port)}`
}

/**
 * Graceful close for an HTTP server: stop accepting, answer requests in flight with
 * `Connection: close` and close each connection as its last response ends (keep-alive clients
 * would otherwise hold the process until the grace period), cut whatever is left after `graceMs`,
 * upgraded (WebSocket) connections included: `closeAllConnections()` does not see those.
 * Call at creation time, so it sees every request.
 */
export function drainable (server: Server): { close: (graceMs: number) => Promise<void>, readonly draining: boolean } {
  let draining = false
  // Not a Set: see inflight-list.ts (a Set of responses made every request survive minor GCs).
  const inflight = new InflightList<ServerResponse>()
  const upgraded = new Set<Socket>()
  server.on('upgrade', (_req, socket: Socket) => {
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
  })
  server.on('request', (_req, res: ServerResponse) => {
    const entry = inflight.add(res)
    if (draining) res.shouldKeepAlive = false
    res.on('close', () => { // `on`: see shared/access-log.ts
      inflight.delete(entry)
      if (draining) setImmediate(() => server.closeIdleConnections())
    })
  })
  return {
    get draining () { return draining },
    async close (graceMs) {
      if (!server.listening) return
      draining = true
      for (const res of inflight) if (!res.headersSent) res.shouldKeepAlive = false
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      for (const socket of upgraded) socket.end()
      const timer = setTimeout(() => {
        server.closeAllConnections()
        for (const socket of upgraded) socket.destroy()
      }, graceMs)
      await closed
      clearTimeout(timer)
    }
  }
}
