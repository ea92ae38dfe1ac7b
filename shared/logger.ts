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
