import t from 'tap'
import { createFileproxyMetrics } from '../../fileproxy/metrics.js'
import { createPurgeReport } from '../../fileproxy/purge-report.js'
import { capturingLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'

/** fileproxy/purge-report.ts: purges logged as a first line, then counts per interval (not the purge log in Redis). */
const spec = (paths: string[], id?: string) => ({ id, paths, prefixes: [], all: false })

t.test('report: the first purge of a quiet spell at once, the rest as one line per interval, counted in the metrics', async (t) => {
  const { log, lines } = capturingLogger()
  const metrics = createFileproxyMetrics(() => ({ bytes: 0, entries: 0 }))
  const report = createPurgeReport({ log, metrics, intervalMs: 20 })
  t.teardown(() => report.close())
  report.applied('redis', spec(['/a'], 'p1'), 1, 1)
  t.match(lines, [{ msg: 'purge', source: 'redis', id: 'p1', paths: 1, dropped: 1 }])
  report.applied('redis', spec(['/b', '/c']), 2, 2)
  report.applied('redis', { paths: [], prefixes: ['/x/'], all: true }, 1, 5)
  await waitFor('the count line', () => lines.find((l) => l.msg === '3 purges applied'))
  t.match(lines.find((l) => l.msg === '3 purges applied'), { source: 'redis', messages: 3, paths: 2, prefixes: 1, all: 1, dropped: 7 })
  const counted = (await metrics.registry.getSingleMetricAsString('podside_fileproxy_purges_received_total'))
  t.match(counted, /source="redis"} 4/)
})

t.test('report: ignored messages: the first logged with its reason (never its content), the rest counted; close() logs what is pending', async (t) => {
  const { log, lines } = capturingLogger()
  const metrics = createFileproxyMetrics(() => ({ bytes: 0, entries: 0 }))
  const report = createPurgeReport({ log, metrics, intervalMs: 60_000 })
  report.ignored('malformed JSON', 12)
  report.ignored('malformed JSON', 13)
  report.applied('replay', spec(['/a']), 1, 0)
  report.applied('replay', spec(['/b']), 1, 0)
  t.match(lines, [{ msg: 'purge message ignored', reason: 'malformed JSON', bytes: 12 }, { msg: 'purge', source: 'replay' }])
  report.close()
  t.match(lines.slice(2), [{ msg: '1 malformed purge messages ignored', count: 1 }, { msg: '1 purges applied', source: 'replay' }])
  t.match(await metrics.registry.getSingleMetricAsString('podside_fileproxy_purge_messages_ignored_total'), / 2$/m)
})
