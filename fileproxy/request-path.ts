import { BadPath, NotFound } from './errors.js'

/**
 * Turns the path of a request (or of a purge message) into the cache key: `/dir/file.png`.
 * Safe by construction, before the file system is touched:
 *  - percent-decoding happens once, and an encoded `/`, `\` or NUL is refused (a second decoder
 *    further down could otherwise turn `%252e%252e` or `%2f` into a separator or `..`);
 *  - `..` and `.` segments, backslashes and NUL are refused (never resolved);
 *  - dotfiles and dot-directories (`.env`, `.git/config`) are not found;
 *  - repeated slashes collapse, so `//a.png` and `/a.png` are one file (and one purge).
 * Symlinks are checked later, against the real path (file-store.ts).
 */
const CLEAN = /^(?:\/[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*)+$/

export function keyFromRequestPath (rawPath: string): string {
  // Most paths need nothing: no escapes, no dot right after a slash, no doubled slash, no backslash.
  if (CLEAN.test(rawPath)) return rawPath
  if (/%(?:2f|5c|00)/i.test(rawPath)) throw new BadPath('encoded separator or NUL in path')
  let decoded: string
  try { decoded = decodeURIComponent(rawPath) } catch { throw new BadPath('malformed percent-encoding') }
  return keyFromFilePath(decoded)
}

/** Same rules for a path that is not percent-encoded (purge messages, the watcher). */
export function keyFromFilePath (path: string): string {
  if (path.includes('\0') || path.includes('\\')) throw new BadPath('backslash or NUL in path')
  if (!path.startsWith('/')) throw new BadPath('path must start with /')
  if (path.endsWith('/')) throw new NotFound('directories are not listed')
  const segments = path.split('/').filter((s) => s !== '')
  if (segments.some((s) => s === '..' || s === '.')) throw new BadPath('dot segments in path')
  if (segments.length === 0) throw new NotFound('directories are not listed')
  if (segments.some((s) => s.startsWith('.'))) throw new NotFound('dotfiles are not served')
  return '/' + segments.join('/')
}

/** A purge prefix: normalised like a path, keeping a trailing slash (`/avatars/`). */
export function normalisePrefix (prefix: string): string {
  if (prefix.includes('\0') || prefix.includes('\\') || !prefix.startsWith('/')) throw new BadPath('prefix must start with / and hold no backslash or NUL')
  const collapsed = prefix.replace(/\/{2,}/g, '/')
  if (collapsed.split('/').some((s) => s === '..' || s === '.')) throw new BadPath('dot segments in prefix')
  return collapsed
}
