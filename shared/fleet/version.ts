import { readFileSync } from 'node:fs'

let cached: string | undefined

/**
 * podside's own version, from its package.json. Looked for upwards from this file, because the
 * file sits one level deeper under dist/ than in the source tree (tests run the source).
 */
export function podsideVersion (): string {
  if (cached !== undefined) return cached
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'podside' && typeof pkg.version === 'string') return (cached = pkg.version)
    } catch { /* not here: look one level up */ }
    if (dir.pathname === '/') return (cached = 'unknown')
  }
}
