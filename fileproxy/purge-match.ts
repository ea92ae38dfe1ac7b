import type { PurgeSpec } from './purge-message.js'
import { compareEntryIds } from './purge-stream.js'

/**
 * What a purge names, made quick to test: paths in a Set, and prefixes sorted with the covered ones
 * (`/a/b/` under `/a/`) left out, so the only prefix that can match a key is the last one sorted at
 * or before it: one binary search per key, however many prefixes a batch of purges carries.
 */
export interface PurgeMatch {
  paths: ReadonlySet<string>
  hasPrefixes: boolean
  underPrefix: (key: string) => boolean
  matches: (key: string) => boolean
}

export function purgeMatch (spec: PurgeSpec): PurgeMatch {
  const paths = new Set(spec.paths)
  const prefixes: string[] = []
  for (const p of [...new Set(spec.prefixes)].sort()) {
    // Sorted, a prefix comes right after the shorter prefix that covers it (if any is kept).
    if (prefixes.length === 0 || !p.startsWith(prefixes[prefixes.length - 1])) prefixes.push(p)
  }
  const underPrefix = (key: string): boolean => {
    let lo = 0
    let hi = prefixes.length - 1
    let at = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (prefixes[mid] <= key) { at = mid; lo = mid + 1 } else hi = mid - 1
    }
    return at !== -1 && key.startsWith(prefixes[at])
  }
  return {
    paths,
    hasPrefixes: prefixes.length > 0,
    underPrefix,
    matches: (key) => spec.all || paths.has(key) || underPrefix(key)
  }
}

/**
 * One purge that drops what every one of `specs` drops (a batch is applied as one walk). Its `log`
 * is the newest log entry of the batch and its `id` that entry's purge (the batch's only id when
 * it holds one purge): what the file proxy acknowledges once the batch is applied.
 */
export function mergePurges (specs: PurgeSpec[]): PurgeSpec {
  let merged: PurgeSpec = { paths: [], prefixes: [], all: false }
  let newest: PurgeSpec | undefined
  for (const s of specs) {
    if (s.log !== undefined && (newest?.log === undefined || compareEntryIds(s.log, newest.log) > 0)) newest = s
    if (merged.all) continue
    if (s.all) { merged = { paths: [], prefixes: [], all: true }; continue }
    for (const p of s.paths) merged.paths.push(p)
    for (const p of s.prefixes) merged.prefixes.push(p)
  }
  if (specs.length === 1) merged.id = specs[0].id
  if (newest !== undefined) { merged.log = newest.log; merged.id = newest.id }
  return merged
}
