import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

/** Left-aligns `s` in a column `n` characters wide. */
export const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)

/** Writes `data` (with the date and Node version) as `bench/results/<date><suffix>.json`; returns the path. */
export function writeResults (suffix: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS, { recursive: true })
  const date = new Date().toISOString()
  const file = join(RESULTS, `${date.replace(/[:.]/g, '-')}${suffix}.json`)
  writeFileSync(file, JSON.stringify({ date, node: process.version, ...data }, null, 2))
  return file
}
