import net from 'node:net'
import tls from 'node:tls'

/**
 * One subscriber connection to one Redis Cluster master, speaking RESP2 itself for the three things
 * sharded pub/sub needs: SSUBSCRIBE, PING and the messages. Not ioredis: when a slot leaves a master,
 * Redis pushes an unsolicited `sunsubscribe` for each of its channels, and ioredis takes it for the
 * reply to a command (it resolves a pending PING with it, or emits "Command queue state error") and
 * tells nobody the subscription is gone, while a cache kept by those messages must stop at once.
 * Its Cluster mode (`shardedSubscribers`) resubscribes by itself, hiding the gap in which messages
 * were missed (see docs/decisions.md).
 */
export interface ShardConnection {
  readonly key: string
  /** False once closed (by either side). */
  readonly open: boolean
  /** Resolves once subscribed; rejects with the server's error (`MOVED …` when the slot is elsewhere). */
  ssubscribe (channel: string): Promise<void>
  /** Resolves once the server answered: every message it sent before has arrived. */
  ping (): Promise<void>
  close (): void
}

export interface ShardConnectionOptions {
  host: string
  port: number
  username?: string
  password?: string
  tls?: boolean
  /** Longest wait for the connection, and for any answer: then the connection is cut. */
  timeoutMs: number
  onMessage: (channel: string, message: string) => void
  /** The server ended a subscription by itself: the channel's slot left this master. */
  onUnsubscribed: (channel: string) => void
  /** The connection ended (after it was open): every subscription on it is gone. */
  onClose: () => void
}

type Reply = string | number | null | Error | Reply[]
interface Pending { resolve: (r: Reply) => void, reject: (e: Error) => void }

export async function connectShard (opts: ShardConnectionOptions): Promise<ShardConnection> {
  const socket: net.Socket = opts.tls === true
    ? tls.connect({ host: opts.host, port: opts.port, servername: net.isIP(opts.host) === 0 ? opts.host : undefined })
    : net.connect({ host: opts.host, port: opts.port })
  socket.setNoDelay(true)
  // An idle subscribed connection sends nothing: let the kernel notice a master that vanished.
  socket.setKeepAlive(true, 5000)
  const pending: Pending[] = []
  let buffer: Buffer = Buffer.alloc(0)
  let open = false
  let timer: NodeJS.Timeout | undefined
  // Any answer overdue (a hung or partitioned master) ends the connection, as a close would.
  const arm = (): void => {
    clearTimeout(timer)
    timer = pending.length > 0 ? setTimeout(() => socket.destroy(new Error('redis did not answer')), opts.timeoutMs) : undefined
  }
  const send = async (...args: string[]): Promise<Reply> => await new Promise((resolve, reject) => {
    if (socket.destroyed) { reject(new Error('connection closed')); return }
    pending.push({ resolve, reject })
    arm()
    socket.write(encode(args))
  })
  const onReply = (reply: Reply): void => {
    if (Array.isArray(reply) && reply[0] === 'smessage') { opts.onMessage(String(reply[1]), String(reply[2])); return }
    // Never asked for: podside does not unsubscribe, so this is the server dropping the channel.
    if (Array.isArray(reply) && reply[0] === 'sunsubscribe') { opts.onUnsubscribed(String(reply[1])); return }
    const next = pending.shift()
    arm()
    if (next === undefined) return
    if (reply instanceof Error) next.reject(reply)
    else next.resolve(reply)
  }
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    let at = 0
    try {
      for (;;) {
        const parsed = parse(buffer, at)
        if (parsed === undefined) break
        at = parsed[1]
        onReply(parsed[0])
      }
    } catch (err) {
      socket.destroy(err as Error)
      return
    }
    buffer = buffer.subarray(at)
  })
  socket.on('error', () => {}) // the close that follows is what counts
  socket.on('close', () => {
    clearTimeout(timer)
    for (const p of pending.splice(0)) p.reject(new Error('connection closed'))
    if (open) opts.onClose()
    open = false
  })
  const connected = new Promise<void>((resolve, reject) => {
    const cut = setTimeout(() => socket.destroy(), opts.timeoutMs)
    socket.once(opts.tls === true ? 'secureConnect' : 'connect', () => { clearTimeout(cut); resolve() })
    socket.once('close', () => { clearTimeout(cut); reject(new Error(`could not connect to ${opts.host}:${opts.port}`)) })
  })
  await connected
  if (opts.password !== undefined) {
    const ok = await send('AUTH', ...(opts.username !== undefined ? [opts.username] : []), opts.password).catch((err: Error) => err)
    if (ok instanceof Error) { socket.destroy(); throw ok }
  }
  // Named so an operator can tell it in CLIENT LIST; an error answer (ACL) does not matter, silence does.
  await send('CLIENT', 'SETNAME', 'podside-ssubscriber').catch(() => {})
  if (socket.destroyed) throw new Error(`${opts.host}:${opts.port} did not answer`)
  open = true
  return {
    key: `${opts.host}:${opts.port}`,
    get open () { return open },
    async ssubscribe (channel) {
      const r = await send('SSUBSCRIBE', channel)
      if (!Array.isArray(r) || r[0] !== 'ssubscribe') throw new Error(`unexpected answer to SSUBSCRIBE: ${String(r)}`)
    },
    async ping () { await send('PING') },
    close () { open = false; socket.destroy() }
  }
}

function encode (args: string[]): string {
  let out = `*${args.length}\r\n`
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`
  return out
}

/** One RESP2 value from `buf` at `at`: [value, next offset], or undefined when incomplete. */
export function parse (buf: Buffer, at: number): [Reply, number] | undefined {
  const eol = buf.indexOf('\r\n', at)
  if (eol === -1) return undefined
  const line = buf.toString('utf8', at + 1, eol)
  const after = eol + 2
  switch (buf[at]) {
    case 0x2b: return [line, after] // +
    case 0x2d: return [new Error(line), after] // -
    case 0x3a: return [Number(line), after] // :
    case 0x24: { // $
      const n = Number(line)
      if (n < 0) return [null, after]
      if (buf.length < after + n + 2) return undefined
      return [buf.toString('utf8', after, after + n), after + n + 2]
    }
    case 0x2a: { // *
      const n = Number(line)
      if (n < 0) return [null, after]
      const items: Reply[] = []
      let pos = after
      for (let i = 0; i < n; i++) {
        const item = parse(buf, pos)
        if (item === undefined) return undefined
        items.push(item[0])
        pos = item[1]
      }
      return [items, pos]
    }
    default: throw new Error(`not RESP: ${JSON.stringify(buf.toString('utf8', at, Math.min(buf.length, at + 20)))}`)
  }
}
