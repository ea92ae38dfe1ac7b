import { StoreUnavailable } from '../errors.js'
import type { GatewayMetrics } from '../metrics.js'
import type { SessionStore } from './store.js'

type Op = Exclude<keyof SessionStore, 'kind' | 'close'>
const OPS: Op[] = ['load', 'apply', 'regenerate', 'retire', 'destroy', 'inspect', 'userSessions', 'destroyUser', 'ping']

/**
 * The store as the gateway uses it: every call timed, every failure counted and turned into
 * GW_ERR_STORE_UNAVAILABLE (503), whatever the driver threw. `onFailure` sees the driver's error.
 */
export function instrumentStore (store: SessionStore, metrics: GatewayMetrics, onFailure: (err: unknown) => void = () => {}): SessionStore {
  const wrapped: Record<string, unknown> = { kind: store.kind, close: async () => await store.close() }
  for (const op of OPS) {
    const fn = store[op] as (...args: unknown[]) => Promise<unknown>
    wrapped[op] = async (...args: unknown[]) => {
      const end = metrics.storeSeconds.startTimer({ op })
      try {
        return await fn.apply(store, args)
      } catch (err) {
        metrics.storeErrors.inc({ op })
        onFailure(err)
        throw new StoreUnavailable(undefined, { cause: err })
      } finally {
        end()
      }
    }
  }
  return wrapped as unknown as SessionStore
}
