import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitFor } from './ports.js'

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface Daemon {
  url: string
  adminUrl: string
  child: ChildProcess
  /** Every JSON log line so far. */
  lines: Array<Record<string, unknown>>
  /** Raw stdout+stderr, for assertions that nothing secret was written. */
  output (): string
  stop (signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Runs `podside <command>` from dist/ as a real process on free ports and resolves once it logged
 * that it listens. Fails with the process's own output when it exits first.
 */
export async function startDaemon (command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  return await startPodside([command, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...args], env, command)
}

/**
 * `podside <argv…>` from dist/ as a real process, once it logged a line with its `url` and
 * `adminUrl` (that line is `ready`). `name` names it in the errors.
 */
export async function startPodside (argv: string[], env: NodeJS.ProcessEnv, name: string): Promise<Daemon & { ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [CLI, ...argv], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: Array<Record<string, unknown>> = []
  let raw = ''
  child.stderr?.on('data', (d) => { raw += String(d) })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    raw += line + '\n'
    try { lines.push(JSON.parse(line)) } catch { /* not JSON: kept in raw */ }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  process.once('exit', () => child.kill('SIGKILL'))
  const ready = await Promise.race([
    waitFor(`${name} to listen`, () => lines.find((l) => typeof l.url === 'string' && typeof l.adminUrl === 'string'), 15_000),
    exited.then((code) => { throw new Error(`podside ${name} exited with ${code} before listening:\n${raw}`) })
  ])
  return {
    url: ready.url as string,
    adminUrl: ready.adminUrl as string,
    ready,
    child,
    lines,
    output: () => raw,
    async stop (signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      return await exited
    }
  }
}

/** An in-process HTTP server on a free loopback port. */
export async function serve (server: http.Server): Promise<{ url: string, close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
