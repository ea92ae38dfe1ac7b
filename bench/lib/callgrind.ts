import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitForPort } from './processes.js'

export const hasValgrind = spawnSync('valgrind', ['--version']).error === undefined

/**
 * V8 made repeatable: no background compiler or GC threads, and a GC schedule that does not follow
 * the clock. Without these flags two runs of the same server differed by a third.
 */
const V8_FLAGS = ['--predictable', '--predictable-gc-schedule', '--single-threaded']

/**
 * Native entry points of V8's optimising compiler and of its garbage collector. Their inclusive
 * instructions are left out of a server's count: compiling is a one-off that callgrind's slowness
 * stretches into the measured window, and whether a major GC lands in the window is luck (one did
 * in one of two otherwise equal runs and doubled its total). Listed so that none contains another.
 */
const EXCLUDED = [
  'v8::internal::Runtime_CompileOptimized(',
  'v8::internal::Runtime_CompileLazy(',
  'v8::internal::Runtime_CompileBaseline(',
  'v8::internal::Runtime_InstallBaselineCode(',
  'v8::internal::Heap::CollectGarbage(',
  'v8::internal::IncrementalMarkingJob::Task::RunInternal(',
  'v8::internal::ScavengeJob::Task::RunInternal(',
  'v8::internal::MemoryReducer::TimerTask::RunInternal(',
  'v8::internal::Heap::FinalizeIncrementalMarkingAtomically('
]

export interface Counted {
  /** Every instruction the process ran per request in the measured window (user space only). */
  total: number
  /** Without compiling and garbage collection: what repeats (0.1–3%) between like runs. */
  work: number
}

export interface Phase {
  label: string
  /** Sends one request and waits for its whole answer; called `warm + requests` times, one at a time. */
  send: () => Promise<void>
}

export interface CountOptions {
  name: string
  /** The server's node arguments (script and its arguments), and the port it listens on. */
  args: string[]
  port: number
  /** Built once the server listens (a phase may need an ETag or a session from it), then measured one after the other. */
  phases: () => Promise<Phase[]>
  warm: number
  requests: number
  /** 'drain': stdout is a pipe this process reads and discards (a server logging at its defaults). */
  stdout?: 'ignore' | 'drain'
}

/**
 * Instructions per request of one Node server under callgrind, for each phase: the server gets
 * `warm` requests so its code is optimised, then its counters are zeroed, `requests` more are sent
 * one at a time, and the counters dumped. One at a time, so a request's count does not depend on
 * how many others shared its wake-up (the reason CPU time per request moves with the load).
 * Kernel time is not counted: every proxy here makes the same socket calls per request.
 */
export async function countInstructions (opts: CountOptions): Promise<Map<string, Counted>> {
  const dir = mkdtempSync(join(tmpdir(), 'podside-callgrind-'))
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'out.%p')}`, process.execPath, ...V8_FLAGS, ...opts.args],
    { stdio: ['ignore', opts.stdout === 'drain' ? 'pipe' : 'ignore', 'pipe'] })
  child.stdout?.resume()
  let stderr = ''
  child.stderr?.on('data', (d) => { stderr += String(d) })
  const counts = new Map<string, Counted>()
  try {
    // Starting Node under valgrind takes tens of seconds.
    await waitForPort(opts.name, child, opts.port, () => stderr, 180_000)
    for (const phase of await opts.phases()) {
      for (let i = 0; i < opts.warm; i++) await phase.send()
      const before = new Set(readdirSync(dir))
      execFileSync('callgrind_control', ['--zero', String(child.pid)], { stdio: 'ignore' })
      for (let i = 0; i < opts.requests; i++) await phase.send()
      execFileSync('callgrind_control', ['--dump', String(child.pid)], { stdio: 'ignore' })
      const dump = readdirSync(dir).find((f) => !before.has(f))
      if (dump === undefined) throw new Error(`${opts.name}: callgrind wrote no dump`)
      const { total, excluded } = inclusiveCounts(join(dir, dump))
      counts.set(phase.label, { total: total / opts.requests, work: (total - excluded) / opts.requests })
    }
    return counts
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The dump's total, and the inclusive instructions of the EXCLUDED entry points (callgrind_annotate). */
function inclusiveCounts (file: string): { total: number, excluded: number } {
  const text = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', '--auto=no', file], { maxBuffer: 256 * 2 ** 20 }).toString()
  let total = NaN
  let excluded = 0
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line)
    if (m === null) continue
    const ir = Number(m[1].replace(/,/g, ''))
    if (m[2].startsWith('PROGRAM TOTALS')) total = ir
    else if (EXCLUDED.some((fn) => m[2].includes(fn))) excluded += ir
  }
  return { total, excluded }
}
