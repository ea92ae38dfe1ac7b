import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/**
 * JSON-line logs in pino's shape. Header values that carry credentials are redacted wherever they
 * appear, so a careless `log.info({ headers })` still never writes a cookie.
 */
export function createLogger (opts: { name: string, level?: string, stream?: DestinationStream }): Logger {
  return pino({
    name: opts.name,
    level: opts.level ?? 'info',
    base: { name: opts.name, pid: process.pid },
    redact: {
      paths: ['*.cookie', '*["set-cookie"]', '*.authorization', '*.headers.cookie', '*.headers["set-cookie"]',
        '*.headers.authorization', 'secret', 'password'],
      censor: '[redacted]'
    }
  }, opts.stream ?? pino.destination({ dest: 1, sync: false }))
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/**
 * `base.child(bindings)`, made on first use: a request's logger is needed only when something
 * about it is logged, and a pino child costs a serialisation through redaction.
 */
export function lazyChild (base: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined
  return new Proxy(base, {
    get (_target, key) {
      child ??= base.child(bindings)
      const value = Reflect.get(child, key, child) as unknown
      return typeof value === 'function' ? value.bind(child) : value
    }
  })
}
