import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fixedRate, saturate, type LoadResult } from './load.js'
import { cpuSeconds, freePort, rssBytes, startServer, type Server } from './processes.js'
import { pad } from './report.js'

/**
 * What every bench scenario shares: the settings of the run, the peers it starts, how one target
 * is measured and how rounds become one row, and the table. Scenarios live in bench/scenarios/.
 */
const here = dirname(fileURLToPath(import.meta.url))
export const CLI = join(here, '..', '..', 'dist', 'cli.js')
/**
 * `--before path/to/dist/cli.js`: another build of podside, run at its defaults beside this one in
 * the same run (its rows say `(before)`), for before/after figures on a machine whose speed drifts.
 */
const beforeAt = process.argv.indexOf('--before')
export const BEFORE_CLI = beforeAt === -1 ? undefined : resolve(process.argv[beforeAt + 1])
export const BEFORE = '(before)'
const PEERS = join(here, '..', 'servers', 'peers.ts')
const CONNECTIONS = 64
/** The label suffix of podside's second row in each scenario: the same daemon without its access log. */
export const QUIET = '(--log-level warn)'

/** Closed-loop saturation (wrk/autocannon), or our scheduled loader at a fixed rate (req/s). */
export type Load = 'saturate' | { rate: number }
export interface Target { label: string, podside: boolean, server: Server, url: string, headers?: Record<string, string> }
export interface Row extends LoadResult { scenario: string, server: string, podside: boolean, cpuUsPerRequest: number, rssMiB: number }
export interface Added { server: string, direct: LoadResult, via: LoadResult }

export type Harness = ReturnType<typeof createHarness>

export function createHarness (opts: { quick: boolean }) {
  const quick = opts.quick
  const SECONDS = quick ? 1 : 5
  const ROUNDS = quick ? 1 : 3
  /** Fixed-rate runs need more requests than 1 s gives for a p99, except in a quick run (< 1 min). */
  const FIXED_SECONDS = quick ? 1 : Math.max(SECONDS, 2)
  const PAIRED_SECONDS = quick ? 1 : Math.max(SECONDS, 3)
  const rows: Row[] = []
  const added: Added[] = []
  const notes: string[] = []
  const cleanups: Array<() => Promise<void>> = []
  const warmed = new Set<Server>()

  const node = (script: string, ...args: string[]): [string, string[]] => [process.execPath, ['--import', 'tsx', script, ...args]]
  async function peer (label: string, kind: string, arg = ''): Promise<Server> {
    const port = await freePort()
    const [cmd, args] = node(PEERS, kind, String(port), arg)
    const s = await startServer(label, cmd, args, port)
    cleanups.push(s.stop)
    return Object.assign(s, { port })
  }
  const urlOf = (s: Server): string => `http://127.0.0.1:${(s as Server & { port: number }).port}`

  async function measure (scenario: string, t: Target, path: string, load: Load, headers?: Record<string, string>): Promise<Row> {
    const h = { ...t.headers, ...headers }
    const cpu0 = cpuSeconds(t.server.pid)
    const r = load === 'saturate'
      ? await saturate(t.url + path, { seconds: SECONDS, connections: CONNECTIONS, headers: h })
      : await fixedRate(t.url + path, { seconds: FIXED_SECONDS, rate: load.rate, headers: h })
    const cpu = cpuSeconds(t.server.pid) - cpu0
    if (r.bad > 0) notes.push(`${scenario} / ${t.label}: ${r.bad} bad answers (non-2xx/3xx or socket errors)`)
    return { ...r, scenario, server: t.label, podside: t.podside, cpuUsPerRequest: r.requests > 0 ? cpu / r.requests * 1e6 : NaN, rssMiB: rssBytes(t.server.pid) / 2 ** 20 }
  }

  /**
   * Runs every target ROUNDS times, alternating the order; each figure kept is the median of its
   * rounds, taken column by column (CPU per request swings ±15% between rounds on 2 shared cores,
   * and the round with the median req/s need not have the median CPU).
   */
  async function scenario (name: string, targets: Target[], path: string, load: Load = 'saturate', headers?: Record<string, string>): Promise<void> {
    const results = new Map<string, Row[]>()
    // An unmeasured second per target first: JIT and heap growth would otherwise land in the
    // numbers of whoever has the most JavaScript to optimise. A quick run (under a minute) warms
    // each server once, all at the same time: a second of a shared load still tiers the code up.
    const warmUp = async (t: Target): Promise<void> => {
      warmed.add(t.server)
      if (load === 'saturate') await saturate(t.url + path, { seconds: 1, connections: CONNECTIONS, headers: { ...t.headers, ...headers } })
      else await fixedRate(t.url + path, { seconds: 1, rate: load.rate, headers: { ...t.headers, ...headers } })
    }
    if (quick) await Promise.all(targets.filter((t) => !warmed.has(t.server)).map(warmUp))
    else for (const t of targets) await warmUp(t)
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse()
      for (const t of order) {
        const row = await measure(name, t, path, load, headers)
        results.set(t.label, [...results.get(t.label) ?? [], row])
        process.stderr.write(`  ${name} / ${t.label}: ${Math.round(row.rps)} req/s\n`)
      }
    }
    for (const t of targets) {
      const runs = results.get(t.label) ?? []
      const median = (pick: (r: Row) => number): number => {
        const xs = runs.map(pick).sort((a, b) => a - b)
        return xs[Math.floor((xs.length - 1) / 2)]
      }
      rows.push({ ...runs[0], rps: median((r) => r.rps), p50: median((r) => r.p50), p99: median((r) => r.p99),
        requests: median((r) => r.requests), bad: Math.max(...runs.map((r) => r.bad)),
        cpuUsPerRequest: median((r) => r.cpuUsPerRequest), rssMiB: median((r) => r.rssMiB) })
    }
  }

  function addedLatencyLines (): string[] {
    const ms = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(3)} ms`
    return added.map((a) => `  ${a.server}: ${ms(a.via.p50 - a.direct.p50)} p50, ${ms(a.via.p99 - a.direct.p99)} p99 ` +
      `(direct ${a.direct.p50.toFixed(3)}/${a.direct.p99.toFixed(3)}, through it ${a.via.p50.toFixed(3)}/${a.via.p99.toFixed(3)} ms p50/p99)`)
  }

  function table (): string {
    const lines: string[] = []
    const num = (n: number, d = 0): string => Number.isFinite(n) ? n.toFixed(d) : '-'
    lines.push([pad('scenario', 44), pad('server', 48), pad('loader', 18), pad('req/s', 8), pad('p50 ms', 7), pad('p99 ms', 7), pad('CPU µs/req', 11), pad('RSS MiB', 8), 'podside ÷ this: req/s, CPU'].join(' '))
    for (const scenarioName of [...new Set(rows.map((r) => r.scenario))]) {
      const group = rows.filter((r) => r.scenario === scenarioName)
      const ours = group.filter((r) => r.podside)
      for (const r of group) {
        const ratio = r.podside ? '' : ours.map((o) => `${(o.rps / r.rps).toFixed(2)}×, ${(r.cpuUsPerRequest / o.cpuUsPerRequest).toFixed(2)}×`).join(' / ')
        lines.push([pad(scenarioName, 44), pad(r.server, 48), pad(r.loader, 18), pad(num(r.rps), 8), pad(num(r.p50, 3), 7), pad(num(r.p99, 3), 7),
          pad(num(r.cpuUsPerRequest, 1), 11), pad(num(r.rssMiB, 0), 8), ratio].join(' '))
      }
    }
    return lines.join('\n')
  }

  /** Per scenario, what the access log costs: CPU µs/req of podside at its defaults minus at warn. */
  function logCostLines (): string[] {
    const out: string[] = []
    for (const quiet of rows.filter((r) => r.podside && r.server.endsWith(' ' + QUIET))) {
      const loud = rows.find((r) => r.scenario === quiet.scenario && r.server === quiet.server.slice(0, -QUIET.length - 1))
      if (loud === undefined) continue
      out.push(`  ${quiet.scenario} / ${loud.server}: ${(loud.cpuUsPerRequest - quiet.cpuUsPerRequest).toFixed(1)} µs/req ` +
        `(${loud.cpuUsPerRequest.toFixed(1)} at defaults, ${quiet.cpuUsPerRequest.toFixed(1)} at warn)`)
    }
    return out
  }

  return { quick, SECONDS, logCostLines, ROUNDS, PAIRED_SECONDS, rows, added, notes, cleanups, peer, urlOf, scenario, table, addedLatencyLines }
}
