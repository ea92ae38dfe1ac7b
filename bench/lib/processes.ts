import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'

export interface Server { name: string, pid: number, child: ChildProcess, stop: () => Promise<void> }

export async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

/**
 * Starts a server process and resolves once its port accepts connections. `stdout: 'drain'` gives
 * it a pipe this process reads and discards, as a container runtime reads a container's logs.
 */
export async function startServer (name: string, cmd: string, args: string[], port: number, env: NodeJS.ProcessEnv = {}, stdout: 'ignore' | 'drain' = 'ignore'): Promise<Server> {
  const child = spawn(cmd, args, { stdio: ['ignore', stdout === 'drain' ? 'pipe' : 'ignore', 'pipe'], env: { ...process.env, ...env } })
  child.stdout?.resume()
  let stderr = ''
  child.stderr?.on('data', (d) => { stderr += String(d) })
  await waitForPort(name, child, port, () => stderr)
  return {
    name, pid: child.pid as number, child,
    stop: async () => {
      if (child.exitCode !== null) return
      await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM') })
    }
  }
}

/** A throwaway `redis-server` on a free port, keeping nothing on disk; undefined when it is not installed. */
export async function startRedis (): Promise<(Server & { url: string }) | undefined> {
  if (spawnSync('redis-server', ['--version']).error !== undefined) return undefined
  const port = await freePort()
  const server = await startServer('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port)
  return { ...server, url: `redis://127.0.0.1:${port}` }
}

/** Resolves once `port` accepts connections; throws (with the process's stderr) if it exits first or never does. */
export async function waitForPort (name: string, child: ChildProcess, port: number, stderr: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port}: ${stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The process and all its descendants (nginx's workers, for one). */
function tree (pid: number): number[] {
  const out = [pid]
  try {
    for (const tid of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) out.push(...tree(Number(tid)))
  } catch { /* gone */ }
  return out
}

const TICKS_PER_SECOND = 100 // USER_HZ on Linux

/** CPU seconds (user + system) used so far by the process tree, from the kernel's own accounting. */
export function cpuSeconds (pid: number): number {
  let ticks = 0
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat(5))
    } catch { /* gone */ }
  }
  return ticks / TICKS_PER_SECOND
}

/** Resident memory of the process tree, bytes. */
export function rssBytes (pid: number): number {
  let kib = 0
  for (const p of tree(pid)) {
    try { kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) } catch { /* gone */ }
  }
  return kib * 1024
}
