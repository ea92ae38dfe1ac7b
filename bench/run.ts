import { spawnSync } from 'node:child_process'
import { hasWrk } from './lib/load.js'
import { createHarness } from './lib/harness.js'
import { writeResults } from './lib/report.js'
import { compressed } from './scenarios/compressed.js'
import { files } from './scenarios/files.js'
import { proxies } from './scenarios/proxies.js'

/**
 * `npm run bench [-- --quick] [-- --only files|proxy|compressed]`: podside and its peers, alternately, in one
 * run; one table of req/s, latency and each server's CPU time per request, with ratios. Servers
 * run at their defaults (podside's access log on, to a drained pipe; nginx's buffered), each
 * with a second row without it.
 */
const quick = process.argv.includes('--quick')
const onlyAt = process.argv.indexOf('--only')
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (onlyAt === -1 ? undefined : process.argv[onlyAt + 1])
const hasNginx = spawnSync('nginx', ['-v']).error === undefined
const h = createHarness({ quick })

try {
  process.stderr.write(`podside bench: ${quick ? 'quick, ' : ''}${h.SECONDS} s per run, ${h.ROUNDS} round(s), loader ${hasWrk ? 'wrk' : 'autocannon (workers)'}\n`)
  if (only === undefined || only === 'files') await files(h, hasNginx)
  if (only === undefined || only === 'proxy') await proxies(h, hasNginx)
  if (only === undefined || only === 'compressed') await compressed(h, hasNginx)
} finally {
  for (const c of h.cleanups.reverse()) await c().catch(() => {})
}
process.stdout.write('\n' + h.table() + '\n')
process.stdout.write('\nRatios: podside ÷ peer for req/s (higher is better for podside) and peer ÷ podside for CPU per request (higher is better for podside).\n')
if (h.added.length > 0) {
  process.stdout.write('Added latency at 1,000 req/s (paired with direct requests in the same second):\n' +
    h.addedLatencyLines().join('\n') + '\n')
}
const logCost = h.logCostLines()
if (logCost.length > 0) process.stdout.write('Access log cost (CPU per request at defaults minus at --log-level warn, same run):\n' + logCost.join('\n') + '\n')
if (h.notes.length > 0) process.stdout.write('Notes:\n' + h.notes.map((n) => `  - ${n}`).join('\n') + '\n')
const file = writeResults(quick ? '-quick' : '', { quick, secondsPerRun: h.SECONDS, rounds: h.ROUNDS, rows: h.rows, addedLatency: h.added, notes: h.notes })
process.stdout.write(`Results written to ${file}\n`)
