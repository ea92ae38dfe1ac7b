import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../shared/logger.js'

/** A logger that writes nowhere. */
export function silentLogger (): Logger {
  return createLogger({ name: 'test', level: 'silent', stream: new Writable({ write: (_c, _e, cb) => cb() }) })
}

/** A logger whose JSON lines are collected, so tests can assert on what was logged. */
export function capturingLogger (level = 'info'): { log: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line))
      cb()
    }
  })
  return { log: createLogger({ name: 'test', level, stream }), lines }
}
