import { ENTRY_ID } from './purge-stream.js'
import { keyFromFilePath, normalisePrefix } from './request-path.js'

/** What one purge drops. Paths and prefixes are normalised exactly like request paths. */
export interface PurgeSpec {
  id?: string
  /** The purge log entry it came from (`<ms>-<seq>`, see purge-stream.ts); absent for a plain PUBLISH. */
  log?: string
  paths: string[]
  prefixes: string[]
  all: boolean
}

/**
 * A purge message from the channel or `POST /v1/purge`: a plain path (`/avatars/42.png`, what
 * `redis-cli PUBLISH podside:purge /avatars/42.png` sends) or JSON
 * `{"id":"…","paths":[…],"prefixes":[…],"all":true}` (from the channel also `"log"`: its entry in the purge log). Returns a string saying what is wrong
 * when the message is not one; the caller logs it and carries on.
 */
export function parsePurgeMessage (text: string, maxBytes: number): PurgeSpec | string {
  if (Buffer.byteLength(text) > maxBytes) return `larger than ${maxBytes} bytes`
  const trimmed = text.trim()
  try {
    if (trimmed.startsWith('/')) return { paths: [keyFromFilePath(trimmed)], prefixes: [], all: false }
    if (!trimmed.startsWith('{')) return 'neither a path starting with / nor a JSON object'
    let raw: unknown
    try { raw = JSON.parse(trimmed) } catch { return 'malformed JSON' }
    const m = raw as Record<string, unknown>
    const strings = (v: unknown, name: string): string[] => {
      if (v === undefined) return []
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new TypeError(`"${name}" must be an array of strings`)
      return v as string[]
    }
    if (m.all !== undefined && typeof m.all !== 'boolean') return '"all" must be true or false'
    if (m.id !== undefined && typeof m.id !== 'string') return '"id" must be a string'
    if (m.log !== undefined && (typeof m.log !== 'string' || !ENTRY_ID.test(m.log))) return '"log" must be a stream entry id'
    const spec: PurgeSpec = {
      id: m.id as string | undefined,
      ...m.log === undefined ? {} : { log: m.log as string },
      paths: strings(m.paths, 'paths').map(keyFromFilePath),
      prefixes: strings(m.prefixes, 'prefixes').map(normalisePrefix),
      all: m.all === true
    }
    if (!spec.all && spec.paths.length === 0 && spec.prefixes.length === 0) return 'names nothing to purge'
    return spec
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}
