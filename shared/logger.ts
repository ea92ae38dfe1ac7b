import { pino, type Logger, type DestinationStream } from 'pino'
import { createLogSink, type LogSink, type SinkTarget } from './log-sink.js'

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
  }, opts.stream ?? stdoutSink(opts.name))
}

/**
 * stdout through a bounded sink (shared/log-sink.ts). What is still buffered when the process
 * exits without `end()` (a crash, `process.exit`) is handed to stdout on the way out: on a pipe
 * with room, libuv writes it before the process is gone.
 */
export function stdoutSink (name: string, target: SinkTarget = process.stdout): LogSink {
  const head = `,"name":${JSON.stringify(name)},"pid":${process.pid}`
  const sink = createLogSink({
    target,
    warning: (dropped) => `{"level":40,"time":${Date.now()}${head},"dropped":${dropped},"msg":"log lines dropped: stdout did not keep up"}\n`
  })
  process.once('exit', () => sink.flush())
  return sink
}

/** The logger's own destination: access lines are written to it directly (shared/access-log.ts). */
export function streamOf (log: Logger): DestinationStream {
  return (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]
}

/** The logger's sink when it writes to one (the daemons' stdout), for its dropped-lines count and end(). */
export function sinkOf (log: Logger): LogSink | undefined {
  const stream = streamOf(log) as Partial<LogSink>
  return typeof stream.dropped === 'number' && typeof stream.end === 'function' ? stream as LogSink : undefined
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
