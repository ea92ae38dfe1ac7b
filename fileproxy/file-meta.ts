import type { createHash } from 'node:crypto'

/** What every answer for one version of a file says about it, made once per load. */
export interface FileMeta {
  key: string
  size: number
  mtimeMs: number
  /** The first 22 characters of the base64url SHA-256 of the content (132 bits). */
  hash: string
  contentType: string
  /** `"<hash>"` and the HTTP date of mtime, made once per load rather than per response. */
  etag: string
  lastModified: string
  /** A compressible type with --compress on: every answer says `Vary: Accept-Encoding`. */
  varies: boolean
}

export function fileMeta (key: string, size: number, mtimeMs: number, hash: string, contentType: string, varies: boolean): FileMeta {
  return { key, size, mtimeMs, hash, contentType, etag: `"${hash}"`, lastModified: new Date(mtimeMs).toUTCString(), varies }
}

export function digest (h: ReturnType<typeof createHash>): string {
  return h.digest('base64url').slice(0, 22)
}

/** Whether a file changed between two fstats of one handle. */
export function changed (before: { size: number, mtimeMs: number }, after: { size: number, mtimeMs: number }): boolean {
  return before.size !== after.size || before.mtimeMs !== after.mtimeMs
}
