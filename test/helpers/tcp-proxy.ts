import net from 'node:net'

/**
 * A TCP relay on a free port in front of `port`, whose link can be cut and restored, to test what
 * a daemon does when its connection to Redis drops while Redis itself stays up.
 */
export async function startTcpProxy (port: number): Promise<{ port: number, cut: () => void, restore: () => void, close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  let open = true
  const server = net.createServer((client) => {
    if (!open) { client.destroy(); return }
    const upstream = net.connect(port, '127.0.0.1')
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}) }
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    cut () { open = false; for (const s of sockets) s.destroy() },
    restore () { open = true },
    close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((resolve) => server.close(() => resolve())) }
  }
}
