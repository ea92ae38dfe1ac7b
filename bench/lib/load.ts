import { spawnSync, spawn } from 'node:child_process'
import autocannon from 'autocannon'
import { Pool } from 'undici'

export interface LoadResult {
  loader: string
  rps: number
  /** Latency percentiles, ms. */
  p50: number
  p99: number
  requests: number
  /** Answers other than 2xx/3xx, and socket errors: a run with any is not a fair number. */
  bad: number
}

export const hasWrk = spawnSync('wrk', ['--version']).error === undefined

/**
 * Saturation load: wrk when installed (it outruns autocannon by far on 2 cores), else autocannon
 * with worker threads. Each row says which loader produced it.
 */
export async function saturate (url: string, opts: { seconds: number, connections: number, headers?: Record<string, string> }): Promise<LoadResult> {
  if (hasWrk) return await wrk(url, opts)
  const r = await autocannon({ url, connections: opts.connections, duration: opts.seconds, headers: opts.headers, workers: 2 } as autocannon.Options)
  return fromAutocannon('autocannon×2', r)
}

/**
 * A fixed request rate, for latency that is not queueing. autocannon reports whole milliseconds,
 * too coarse for "added latency under 1 ms", so this loader is ours: it sends on a schedule (not
 * when the previous answer came, which would hide queueing: coordinated omission) over keep-alive
 * connections and times each request from its scheduled start with performance.now().
 */
export async function fixedRate (url: string, opts: { seconds: number, rate: number, headers?: Record<string, string> }): Promise<LoadResult> {
  const [result] = await scheduled([{ url, headers: opts.headers }], opts, `fixed ${opts.rate}/s`)
  return result
}

/**
 * Latency a proxy adds, measured in pairs: at every tick one request goes to the app directly and
 * one through the proxy, each at `rate`, so loader hiccups (timers, GC, a busy core) hit both
 * sides alike and cancel out of the difference; apart, the app's own p99 swung by 2 ms between runs.
 */
export async function pairedFixedRate (direct: string, via: string, opts: { seconds: number, rate: number, viaHeaders?: Record<string, string> }): Promise<{ direct: LoadResult, via: LoadResult }> {
  const [d, v] = await scheduled([{ url: direct }, { url: via, headers: opts.viaHeaders }], opts, `paired ${opts.rate}/s`)
  return { direct: d, via: v }
}

/** At each tick of the schedule, one GET to every target; one result per target. */
async function scheduled (targets: Array<{ url: string, headers?: Record<string, string> }>, opts: { seconds: number, rate: number }, loader: string): Promise<LoadResult[]> {
  const sides = targets.map((target) => {
    const url = new URL(target.url)
    return { path: url.pathname, headers: target.headers, pool: new Pool(url.origin, { connections: 32 }), latencies: [] as number[], bad: 0 }
  })
  const total = Math.round(opts.seconds * opts.rate)
  const start = performance.now()
  const inflight: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const due = start + i * 1000 / opts.rate
    const wait = due - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    // Timed from the schedule when the send was late (coordinated omission), from the send when a
    // coarse timer let it go early.
    const from = Math.min(due, performance.now())
    // Alternate which target goes first, so none always waits behind another's send.
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      inflight.push(side.pool.request({ method: 'GET', path: side.path, headers: side.headers }).then(async (r) => {
        await r.body.dump()
        if (r.statusCode >= 400) side.bad++
        side.latencies.push(performance.now() - from)
      }, () => { side.bad++ }))
    }
  }
  await Promise.all(inflight)
  const elapsed = (performance.now() - start) / 1000
  return await Promise.all(sides.map(async (side) => {
    await side.pool.close()
    side.latencies.sort((a, b) => a - b)
    const at = (q: number): number => side.latencies[Math.min(side.latencies.length - 1, Math.floor(q * side.latencies.length))] ?? NaN
    return { loader, rps: side.latencies.length / elapsed, p50: at(0.5), p99: at(0.99), requests: side.latencies.length, bad: side.bad }
  }))
}

function fromAutocannon (loader: string, r: autocannon.Result): LoadResult {
  return {
    loader,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    bad: r.non2xx - (r['3xx'] ?? 0) + r.errors + r.timeouts
  }
}

async function wrk (url: string, opts: { seconds: number, connections: number, headers?: Record<string, string> }): Promise<LoadResult> {
  const args = ['-t2', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency']
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`)
  args.push(url)
  const out = await new Promise<string>((resolve) => {
    const child = spawn('wrk', args)
    let text = ''
    child.stdout.on('data', (d) => { text += String(d) })
    child.on('exit', () => resolve(text))
  })
  const ms = (label: string): number => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out)
    if (m === null) return NaN
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
  }
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  return {
    loader: 'wrk -t2',
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50: ms('50%'),
    p99: ms('99%'),
    requests,
    bad: non2xx + (errors === null ? 0 : errors.slice(1).map(Number).reduce((a, b) => a + b, 0))
  }
}
