import type { NodeView } from './node-record.js'
import type { FleetView } from './read-fleet.js'

const COLUMNS: Array<[string, (n: NodeView) => string]> = [
  ['NODE', (n) => n.id],
  ['ROLE', (n) => n.role ?? '-'],
  ['STATE', (n) => n.state],
  ['HOST', (n) => n.hostname ?? '-'],
  ['PID', (n) => n.pid?.toString() ?? '-'],
  ['VERSION', (n) => n.version ?? '-'],
  ['PUBLIC', (n) => n.url ?? '-'],
  ['ADMIN', (n) => n.adminUrl ?? '-'],
  // Last heartbeat + its age = the time of reading.
  ['UP', (n) => n.startedAt === null ? '-' : age(Date.parse(n.lastHeartbeatAt) + n.heartbeatAgeMs - Date.parse(n.startedAt))],
  ['BEAT', (n) => age(n.heartbeatAgeMs) + ' ago'],
  ['REQ/S', (n) => n.requestsPerSecond?.toString() ?? '-'],
  ['CACHE', (n) => n.cacheBytes === null ? '-' : bytes(n.cacheBytes)],
  ['HIT', (n) => n.cacheHitRatio === null ? '-' : `${Math.round(n.cacheHitRatio * 100)}%`],
  ['SESSIONS', (n) => n.sessionsCached?.toString() ?? '-'],
  ['PURGE', (n) => n.lastPurgeId ?? '-'],
  ['TASKS', (n) => n.tasksRunning?.toString() ?? '-']
]

/** The fleet as aligned columns: a header, then one node per line. */
export function fleetTable (view: FleetView): string {
  const rows = [COLUMNS.map(([title]) => title), ...view.nodes.map((n) => COLUMNS.map(([, cell]) => cell(n)))]
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join('  ')).join('\n') + '\n'
}

function age (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return ms < 10_000 ? `${(Math.max(0, ms) / 1000).toFixed(1)}s` : `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60)}m`
  return `${Math.floor(s / 86_400)}d${Math.floor(s % 86_400 / 3600)}h`
}

function bytes (n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${(n / size).toFixed(1)}${unit}`
  }
  return `${n}B`
}
