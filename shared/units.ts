/**
 * Parsers for the two unit-bearing value kinds of the public contract. The accepted forms are
 * exactly the documented ones (`250ms`, `30s`, `15m`, `2h`, `7d`; `512KiB`, `64MiB`, `1GiB` or plain
 * bytes), so a typo such as `2 hours` or `64MB` is an error instead of a silent guess.
 */
const DURATION = /^(\d+)(ms|s|m|h|d)$/
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds, or undefined when `text` is not a duration. `0` alone is allowed (it means "off"). */
export function parseDuration (text: string): number | undefined {
  if (text === '0') return 0
  const m = DURATION.exec(text)
  return m === null ? undefined : Number(m[1]) * DURATION_MS[m[2]]
}

export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_MS[unit]
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

const SIZE = /^(\d+)(B|KiB|MiB|GiB)?$/
const SIZE_BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }

/** Bytes, or undefined when `text` is not a size. */
export function parseSize (text: string): number | undefined {
  const m = SIZE.exec(text)
  return m === null ? undefined : Number(m[1]) * SIZE_BYTES[m[2] ?? 'B']
}

export function formatSize (bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const size = SIZE_BYTES[unit]
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}`
}
