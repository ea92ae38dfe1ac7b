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

/**
 * Builds a catalogue entry: `const NotFound = defineError('FP_ERR_NOT_FOUND', 'Not Found', 404)`.
 * Each class has its own `name` from its code (`FP_ERR_NOT_FOUND` → `NotFoundError`), as undici's
 * errors do; match on `Class.code`.
 */
export function defineError<C extends string> (code: C, defaultMessage: string, statusCode: number) {
  const name = errorName(code)
  return class extends PodsideError {
    static readonly code: C = code
    constructor (message = defaultMessage, options?: { cause?: unknown }) {
      super(code, message, statusCode, options)
      this.name = name
    }
  }
}

/** `GW_ERR_UPSTREAM_TIMEOUT` → `UpstreamTimeoutError`. */
export function errorName (code: string): string {
  const words = code.replace(/^[A-Z]+_ERR_|^ERR_/, '').toLowerCase().split('_')
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') + 'Error'
}

export function hasCode (err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
