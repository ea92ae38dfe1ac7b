/**
 * One small base error for every podside failure. Callers match on `code`, never on the message
 * (the message may be reworded; a code, once published, is never reused for something else).
 */
export class PodsideError extends Error {
  readonly code: string
  readonly statusCode: number

  constructor (code: string, message: string, statusCode = 500, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PodsideError'
    this.code = code
    this.statusCode = statusCode
  }
}

/** Builds a catalogue entry: `const NotFound = defineError('FP_ERR_NOT_FOUND', 'Not Found', 404)`. */
export function defineError (code: string, defaultMessage: string, statusCode: number) {
  return class extends PodsideError {
    static readonly code = code
    constructor (message = defaultMessage, options?: { cause?: unknown }) {
      super(code, message, statusCode, options)
    }
  }
}

export function hasCode (err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
