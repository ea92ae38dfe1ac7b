import { Pool } from 'undici'
import { firstValue } from '../shared/header-value.js'
import type { Taken } from './store/store.js'

/** What one call to the app decided. */
export interface Outcome {
  result: 'done' | 'retry' | 'dead' | 'handed-back'
  status?: number
  error?: string
  /** From the app's `Retry-After` (RFC 9110 §10.2.3). */
  retryAfterMs?: number
}

export interface Delivery {
  /** Calls the app once; never rejects. Aborting `signal` (the node stops) gives `handed-back`. */
  call (taken: Taken, signal: AbortSignal, now: number): Promise<Outcome>
  close (): Promise<void>
}

/** The reason a stopping node aborts its calls with. */
export const HAND_BACK = 'podside: node stopping'
/** The reason a call is aborted with once --tasks-timeout passed. */
const TIMED_OUT = 'podside: attempt timed out'

/**
 * `POST <upstream><tasks-path>/<name>` over a keep-alive undici Pool (as gateway/proxy.ts), the
 * payload as body, the task's identity in `Podside-Task-*` headers.
 */
export function createDelivery (opts: { origin: URL, tasksPath: string, node: string, connections: number }): Delivery {
  const pool = new Pool(opts.origin, { connections: opts.connections, keepAliveTimeout: 4_000 })
  const base = opts.origin.pathname.replace(/\/$/, '') + opts.tasksPath
  return {
    async call (taken, signal, now) {
      const rec = taken.record
      // One controller for both ends of the call: the node stopping, or the attempt's timeout
      // (AbortSignal.any and AbortSignal.timeout per call were a tenth of the worker's CPU).
      const ac = new AbortController()
      const timer = setTimeout(() => ac.abort(TIMED_OUT), rec.timeoutMs)
      const onStop = (): void => ac.abort(HAND_BACK)
      if (signal.aborted) onStop()
      else signal.addEventListener('abort', onStop, { once: true })
      const headers: Record<string, string> = {
        'content-type': rec.contentType,
        'podside-task-id': rec.id,
        'podside-task-name': rec.name,
        'podside-task-attempt': String(taken.attempt),
        'podside-task-max-attempts': String(rec.maxAttempts),
        'podside-task-deadline': new Date(now + rec.timeoutMs).toISOString(),
        'podside-node': opts.node
      }
      if (rec.key !== undefined) headers['podside-task-key'] = rec.key
      if (rec.scheduledFor !== undefined) headers['podside-task-scheduled-for'] = rec.scheduledFor
      try {
        const res = await pool.request({
          method: 'POST',
          path: `${base}/${encodeURIComponent(rec.name)}`,
          headers,
          body: taken.payload,
          signal: ac.signal,
          headersTimeout: rec.timeoutMs,
          bodyTimeout: rec.timeoutMs
        })
        await res.body.dump({ limit: 64 * 1024, signal: ac.signal }).catch(() => {})
        return classify(res.statusCode, res.headers, Date.now())
      } catch (err) {
        if (ac.signal.reason === HAND_BACK) return { result: 'handed-back', error: 'the node stopped before the app answered' }
        if (ac.signal.reason === TIMED_OUT) return { result: 'retry', error: `timeout: no answer within ${rec.timeoutMs} ms` }
        const code = (err as { code?: string }).code
        return { result: 'retry', error: code === 'ECONNREFUSED' ? 'connection refused' : `${code ?? 'error'}: ${(err as Error).message}` }
      } finally {
        clearTimeout(timer)
        signal.removeEventListener('abort', onStop)
      }
    },
    async close () { await pool.destroy() }
  }
}

const RETRY_STATUS = new Set([408, 425, 429])

/** The app's answer as an outcome: 2xx done; 408, 425, 429, 5xx retry; any other status dead; `Podside-Task-Result` overrides. */
export function classify (status: number, headers: Record<string, string | string[] | undefined>, now: number): Outcome {
  const override = firstValue(headers['podside-task-result'])?.trim().toLowerCase()
  let result: Outcome['result'] = status >= 200 && status < 300 ? 'done' : RETRY_STATUS.has(status) || status >= 500 ? 'retry' : 'dead'
  if (override === 'done' || override === 'retry' || override === 'dead') result = override
  const out: Outcome = { result, status }
  if (result !== 'done') out.error = `the app answered ${status}${override === undefined ? '' : ` with Podside-Task-Result: ${override}`}`
  const retryAfter = parseRetryAfter(firstValue(headers['retry-after']), now)
  if (result === 'retry' && retryAfter !== undefined) out.retryAfterMs = retryAfter
  return out
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function parseRetryAfter (value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** Full jitter (a random wait up to the exponential bound), or the app's Retry-After, both capped at `maxMs`. */
export function backoffMs (attempt: number, b: { minMs: number, maxMs: number }, retryAfterMs: number | undefined, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(b.maxMs, retryAfterMs)
  const bound = Math.min(b.maxMs, b.minMs * 2 ** Math.min(attempt - 1, 40))
  return Math.round(random() * bound)
}
