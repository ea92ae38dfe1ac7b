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
  await waitFor(`redis-server on port ${port}${stderr === '' ? '' : ': ' + stderr}`, async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try { await probe.connect(); return await probe.ping() === 'PONG' ? true : undefined } finally { probe.disconnect() }
  })
  return child
}

async function kill (child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL') })
}

export async function startRedis (): Promise<RedisServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'podside-redis-'))
  let child: ChildProcess | undefined = await spawnRedis(port, dir, [])
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
  ports: number[]
  url: string
  /** SIGKILL of the node on `port` (a crash); with replicas, one of its replicas takes over. */
  kill (port: number): Promise<void>
  close (): Promise<void>
}

/**
 * A real Redis Cluster of `masters` masters, each with `replicas` replicas (none by default: a
 * killed master then takes its slots down), with every slot assigned.
 */
export async function startCluster (masters = 3, replicas = 0): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-cluster-'))
  const ports: number[] = []
  const children: ChildProcess[] = []
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await freePort()
    const bus = await freePort()
    ports.push(port)
    children.push(await spawnRedis(port, dir, ['--cluster-enabled', 'yes', '--cluster-port', String(bus),
      '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--repl-diskless-sync-delay', '0']))
  }
  process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8' })
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`)
  await waitFor('cluster_state:ok on every node', async () => {
    for (const port of ports) {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true })
      try {
        await c.connect()
        if (!(await c.cluster('INFO') as string).includes('cluster_state:ok')) return undefined
        // Replicas count once they are in sync with their master.
        if (replicas > 0 && /role:slave/.test(await c.info('replication')) && !/master_link_status:up/.test(await c.info('replication'))) return undefined
      } finally { c.disconnect() }
    }
    return true
  }, 30_000)
  return {
    ports,
    url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    async kill (port) { await kill(children[ports.indexOf(port)]) },
    async close () {
      await Promise.all(children.map(kill))
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
