import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from './ports.js'

/**
 * Real `php -S` processes (PHP's built-in web server) on free ports, for tests that put the gateway
 * in front of an unmodified PHP app. Like Redis, PHP is never mocked and a missing binary fails
 * the test with this message, it never skips it.
 */
function phpBinary (): string {
  const found = spawnSync('php', ['--version'], { encoding: 'utf8' })
  if (found.error !== undefined || found.status !== 0) {
    throw new Error('php not found: .ci/run installs php-cli (apt-get install -y php-cli); the PHP app tests cannot run without it')
  }
  return 'php'
}

/** A temporary directory for PHP's file sessions, shared by several servers when a test wants it. */
export function tempSessionDir (): { path: string, remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'podside-php-sessions-'))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export interface PhpOptions {
  /** The document root served (`-t`). */
  docroot: string
  /** `session.save_path`: given, it is shared and left in place; omitted, a temporary one is made and removed by stop(). */
  sessionDir?: string
  /** More `-d name=value` ini settings, e.g. `{ 'session.use_strict_mode': '1' }`. */
  ini?: Record<string, string>
}

export interface PhpServer {
  url: string
  port: number
  sessionDir: string
  child: ChildProcess
  /** What php -S wrote (its request log and any PHP warnings). */
  output (): string
  /** Stops the server and waits for it to exit; removes the session directory it made itself. */
  stop (): Promise<void>
}

export async function startPhp (opts: PhpOptions): Promise<PhpServer> {
  const binary = phpBinary()
  const port = await freePort()
  const own = opts.sessionDir === undefined ? tempSessionDir() : undefined
  const sessionDir = opts.sessionDir ?? (own as { path: string }).path
  const ini = { 'session.save_path': sessionDir, display_errors: 'stderr', log_errors: '0', ...opts.ini }
  const args = [...Object.entries(ini).flatMap(([k, v]) => ['-d', `${k}=${v}`]), '-S', `127.0.0.1:${port}`, '-t', opts.docroot]
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } })
  let raw = ''
  child.stdout?.on('data', (d) => { raw += String(d) })
  child.stderr?.on('data', (d) => { raw += String(d) })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const hard = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(hard)
    }
    process.removeListener('exit', killOnExit)
    own?.remove()
  }
  try {
    await waitFor(`php -S on port ${port} to accept connections`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`php -S exited (${child.exitCode ?? child.signalCode}):\n${raw}`)
      return await new Promise<true | undefined>((resolve) => {
        const probe = net.connect(port, '127.0.0.1', () => { probe.destroy(); resolve(true) })
        probe.on('error', () => resolve(undefined))
      })
    }, 15_000)
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `http://127.0.0.1:${port}`, port, sessionDir, child, output: () => raw, stop }
}
