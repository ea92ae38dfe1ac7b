import { spawnSync, spawn } from 'node:child_process'
import autocannon from 'autocannon'

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

/** A fixed request rate (autocannon's overallRate), for latency that is not queueing. */
export async function fixedRate (url: string, opts: { seconds: number, rate: number, headers?: Record<string, string> }): Promise<LoadResult> {
  const r = await autocannon({ url, connections: 10, duration: opts.seconds, overallRate: opts.rate, headers: opts.headers })
  return fromAutocannon(`autocannon@${opts.rate}/s`, r)
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
