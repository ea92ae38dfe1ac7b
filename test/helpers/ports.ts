import net from 'node:net'

/** A TCP port that was free a moment ago (for servers that cannot bind port 0 themselves). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  let lastErr: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) { lastErr = err }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr instanceof Error ? `: ${lastErr.message}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
