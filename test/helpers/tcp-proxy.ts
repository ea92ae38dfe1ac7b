import net from 'node:net'

export interface TcpProxy {
  port: number
  /** Drops every connection and refuses new ones (Redis looks down). */
  cut: () => void
  /**
   * A black hole: connections stay open but nothing crosses in either direction. Bytes already
   * sent wait in the sockets' buffers, as unacknowledged packets wait on a real network, and
   * cross once `restore()` is called, unless their sender reset its connection meanwhile.
   */
  stall: () => void
  /** Undoes `cut` (new connections accepted) and `stall` (waiting bytes cross). */
  restore: () => void
  close: () => Promise<void>
}

/**
 * A TCP relay on a free port in front of `port`, whose link can be cut, stalled and restored, to
 * test what a daemon does when its connection to Redis drops or hangs while Redis itself stays up.
 */
export async function startTcpProxy (port: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  let open = true
  let stalled = false
  const server = net.createServer((client) => {
    if (!open) { client.destroy(); return }
    const upstream = net.connect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
      if (stalled) s.pause()
    }
    // Forwarded by hand, not piped: a paused socket must stay paused until restore().
    client.on('data', (d) => upstream.write(d))
    upstream.on('data', (d) => client.write(d))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    cut () { open = false; for (const s of sockets) s.destroy() },
    stall () { stalled = true; for (const s of sockets) s.pause() },
    restore () { open = true; stalled = false; for (const s of sockets) s.resume() },
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  }
}
