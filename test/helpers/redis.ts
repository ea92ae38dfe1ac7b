import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, waitFor } from './ports.js'

/**
 * Real redis-server processes on free ports, for tests. No mocks: a test that needs Redis fails
 * with this message when the binary is missing, it is never skipped.
 */
function redisServerBinary (): string {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (found.error !== undefined || found.status !== 0) {
    throw new Error('redis-server is not on the PATH: tests that need Redis cannot run. Install it (apt-get install -y redis-server) or run .ci/run, which does.')
  }
  return 'redis-server'
}

export interface RedisServer {
  port: number
  url: string
  /** Stops the process (SIGKILL: as sudden as a crash); `start` brings it back on the same port. */
  stop (): Promise<void>
  start (): Promise<void>
  /** SIGSTOP/SIGCONT: unreachable but holding its data, like a hung or partitioned server. */
  pause (): Promise<void>
  resume (): Promise<void>
  client (): Redis
}

async function spawnRedis (port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const child = spawn(redisServerBinary(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--protected-mode', 'no', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d) => { stderr += String(d) })
  // An exit before listening fails at once, with what redis-server said (a port taken, a bad flag).
  let onExit: ((code: number | null) => void) | undefined
  const exited = new Promise<never>((_resolve, reject) => {
    onExit = (code) => reject(new Error(`redis-server on port ${port} exited with ${code}: ${stderr.trim()}`))
    child.once('exit', onExit)
  })
  try {
    await Promise.race([exited, waitFor(`redis-server on port ${port}`, async () => {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try { await probe.connect(); return await probe.ping() === 'PONG' ? true : undefined } finally { probe.disconnect() }
    })])
  } finally {
    child.off('exit', onExit!)
  }
  return child
}

/**
 * spawnRedis on ports from freePort(), chosen again when one was taken between the choice and
 * redis-server's bind (another test file, or an outgoing connection's ephemeral port).
 */
async function spawnRedisOnFreePorts (dir: string, extra: (port: number, bus: number) => string[]): Promise<{ port: number, child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const [port, bus] = [await freePort(), await freePort()]
    try {
      return { port, child: await spawnRedis(port, dir, extra(port, bus)) }
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err
    }
  }
}

async function kill (child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL') })
}

export async function startRedis (): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-redis-'))
  const first = await spawnRedisOnFreePorts(dir, () => [])
  const port = first.port
  let child: ChildProcess | undefined = first.child
  const clients: Redis[] = []
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop () { await kill(child); child = undefined },
    async start () { child = await spawnRedis(port, dir, []) },
    async pause () { child?.kill('SIGSTOP') },
    async resume () { child?.kill('SIGCONT') },
    client () {
      const c = new Redis({ port, host: '127.0.0.1' })
      clients.push(c)
      return c
    }
  }
  process.once('exit', () => child?.kill('SIGKILL'))
  ;(server as RedisServer & { close: () => Promise<void> }).close = async () => {
    for (const c of clients) c.disconnect()
    await kill(child)
    rmSync(dir, { recursive: true, force: true })
  }
  return server
}

export async function stopRedis (server: RedisServer): Promise<void> {
  await (server as RedisServer & { close: () => Promise<void> }).close()
}

export interface RedisCluster {
  /** The masters' ports, as created. */
  ports: number[]
  /** Every node's port (masters, then replicas). */
  allPorts: number[]
  url: string
  /** Port of the master serving `slot` now (asked of a live node). */
  ownerOf (slot: number): Promise<number>
  /** Ports of the nodes that are masters with slots now. */
  masters (): Promise<number[]>
  /**
   * Moves `slot` (and its keys) from its master to the master at `to`, as `redis-cli --cluster
   * reshard` does: IMPORTING/MIGRATING, MIGRATE key by key, then SETSLOT NODE on the target, the
   * source and the others. `between` runs after the keys moved and before the slot's owner changes:
   * the window in which scripts on those keys run on the target by ASK redirection.
   */
  moveSlot (slot: number, to: number, between?: () => Promise<void>): Promise<void>
  /** SIGKILL one node (a master: its replica takes over after the node timeout). */
  kill (port: number): Promise<void>
  /** Resolves once the replica of `port` caught up with it (same replication offset). */
  replicaCaughtUp (port: number): Promise<void>
  /** Resolves once every live node reports cluster_state:ok and agrees who serves every slot. */
  settled (): Promise<void>
  close (): Promise<void>
}

/** One short-lived connection to the node on `port` (a cluster node, a replica) for `fn`. */
export async function ask<T> (port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  c.on('error', () => {})
  try { await c.connect(); return await fn(c) } finally { c.disconnect() }
}

/**
 * A real Redis Cluster of `masters` masters with every slot assigned, and `replicas` replicas per
 * master (node timeout 2 s, so a killed master's replica is promoted within seconds).
 */
export async function startCluster (masters = 3, opts: { replicas?: number } = {}): Promise<RedisCluster> {
  const replicas = opts.replicas ?? 0
  const dir = mkdtempSync(join(tmpdir(), 'podside-cluster-'))
  const ports: number[] = []
  const children = new Map<number, ChildProcess>()
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const { port, child } = await spawnRedisOnFreePorts(dir, (port, bus) => ['--cluster-enabled', 'yes', '--cluster-port', String(bus),
      '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--repl-diskless-sync-delay', '0'])
    ports.push(port)
    children.set(port, child)
  }
  process.once('exit', () => { for (const c of children.values()) c.kill('SIGKILL') })
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8' })
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`)
  const alive = (): number[] => ports.filter((p) => children.get(p)?.exitCode === null && children.get(p)?.signalCode === null)
  const slotsOf = async (port: number): Promise<Array<[number, number, number]>> =>
    (await ask(port, async (c) => await c.cluster('SLOTS')) as unknown[][]).map((r) => [Number(r[0]), Number(r[1]), Number((r[2] as unknown[])[1])])
  const idOf = async (port: number): Promise<string> => await ask(port, async (c) => await c.cluster('MYID') as string)
  const settled = async (): Promise<void> => {
    await waitFor('cluster_state:ok and one slot map on every node', async () => {
      let seen: string | undefined
      for (const port of alive()) {
        if (!(await ask(port, async (c) => await c.cluster('INFO') as string)).includes('cluster_state:ok')) return undefined
        const map = JSON.stringify((await slotsOf(port)).sort((a, b) => a[0] - b[0]))
        if (seen !== undefined && map !== seen) return undefined
        seen = map
      }
      // Replicas count once they are in sync with their master (Redis 7 waits 5 s before a first
      // sync unless told not to; a failover before it would promote an empty replica).
      for (const port of alive()) {
        const info = await ask(port, async (c) => await c.info('replication'))
        if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return undefined
      }
      return true
    }, 30_000)
  }
  await settled()
  const ownerOf = async (slot: number): Promise<number> => {
    const r = (await slotsOf(alive()[0])).find(([a, b]) => a <= slot && slot <= b)
    if (r === undefined) throw new Error(`no owner for slot ${slot}`)
    return r[2]
  }
  return {
    ports: ports.slice(0, masters),
    allPorts: ports,
    url: `redis-cluster://${ports.slice(0, masters).map((p) => `127.0.0.1:${p}`).join(',')}`,
    ownerOf,
    async masters () { return [...new Set((await slotsOf(alive()[0])).map((r) => r[2]))].sort((a, b) => a - b) },
    async moveSlot (slot, to, between) {
      const from = await ownerOf(slot)
      if (from === to) return
      const [fromId, toId] = [await idOf(from), await idOf(to)]
      await ask(to, async (c) => await c.cluster('SETSLOT', slot, 'IMPORTING', fromId))
      await ask(from, async (c) => await c.cluster('SETSLOT', slot, 'MIGRATING', toId))
      await ask(from, async (c) => {
        for (;;) {
          const keys = await c.cluster('GETKEYSINSLOT', slot, 10) as string[]
          if (keys.length === 0) break
          await c.call('MIGRATE', '127.0.0.1', String(to), '', '0', '5000', 'KEYS', ...keys)
        }
      })
      await between?.()
      for (const port of [to, from, ...alive().filter((p) => p !== to && p !== from)]) {
        await ask(port, async (c) => await c.cluster('SETSLOT', slot, 'NODE', toId)).catch(() => {}) // a replica refuses: it follows its master
      }
    },
    async kill (port) { await kill(children.get(port)) },
    async replicaCaughtUp (port) {
      await waitFor(`the replica of ${port} to catch up`, async () => {
        const info = await ask(port, async (c) => await c.info('replication'))
        const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1])
        const lines = info.split('\n').filter((l) => /^slave\d+:/.test(l))
        return lines.length > 0 && lines.every((l) => Number(/offset=(\d+)/.exec(l)?.[1]) === offset) ? true : undefined
      })
    },
    settled,
    async close () {
      await Promise.all([...children.values()].map(kill))
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface RedisSentinel {
  url: string
  masterName: string
  /** The two data nodes: the first starts as master, the second as its replica. */
  dataPorts: [number, number]
  /** Port of the data node that is master now, as the Sentinel reports it. */
  masterPort (): Promise<number>
  /** SENTINEL FAILOVER: the replica is promoted; resolves once the Sentinel reports the switch. */
  failover (): Promise<void>
  close (): Promise<void>
}

/** A master, one replica and one Sentinel watching them (quorum 1), on free ports. */
export async function startSentinel (): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-sentinel-'))
  const masterName = 'podside-test'
  const [mPort, rPort, sPort] = [await freePort(), await freePort(), await freePort()]
  const children: ChildProcess[] = []
  process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })
  // Redis 7 waits 5 s before a diskless initial sync: without this, a failover in the first seconds
  // promoted a replica that held nothing yet.
  children.push(await spawnRedis(mPort, dir, ['--repl-diskless-sync-delay', '0']))
  children.push(await spawnRedis(rPort, dir, ['--replicaof', '127.0.0.1', String(mPort), '--repl-diskless-sync-delay', '0']))
  const conf = join(dir, 'sentinel.conf')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(conf, [`port ${sPort}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${masterName} 127.0.0.1 ${mPort} 1`,
    `sentinel down-after-milliseconds ${masterName} 1000`,
    `sentinel failover-timeout ${masterName} 5000`, ''].join('\n'))
  const sentinel = spawn(redisServerBinary(), [conf, '--sentinel'], { stdio: 'ignore' })
  children.push(sentinel)
  const ask = async <T>(fn: (c: Redis) => Promise<T>): Promise<T> => {
    const c = new Redis({ port: sPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    c.on('error', () => {})
    try { await c.connect(); return await fn(c) } finally { c.disconnect() }
  }
  const masterPort = async (): Promise<number> =>
    Number((await ask(async (c) => await c.call('SENTINEL', 'get-master-addr-by-name', masterName)) as string[])[1])
  // Ready once the Sentinel knows the master and has discovered its replica.
  await waitFor('the Sentinel to see master and replica', async () => {
    const replicas = await ask(async (c) => await c.call('SENTINEL', 'replicas', masterName)) as unknown[]
    return replicas.length === 1 && await masterPort() === mPort ? true : undefined
  }, 20_000)
  await waitFor('the replica to be in sync', async () => {
    const c = new Redis({ port: rPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    c.on('error', () => {})
    try { await c.connect(); return /master_link_status:up/.test(await c.info('replication')) ? true : undefined } finally { c.disconnect() }
  }, 20_000)
  return {
    url: `redis-sentinel://127.0.0.1:${sPort}/${masterName}`,
    masterName,
    dataPorts: [mPort, rPort],
    masterPort,
    async failover () {
      const before = await masterPort()
      await waitFor('SENTINEL FAILOVER to be accepted', async () => {
        try { await ask(async (c) => await c.call('SENTINEL', 'failover', masterName)); return true } catch { return undefined }
      }, 20_000)
      await waitFor('the Sentinel to report the new master', async () => await masterPort() !== before ? true : undefined, 20_000)
    },
    async close () {
      await Promise.all(children.map(kill))
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
