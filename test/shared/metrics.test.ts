import t from 'tap'
import { Counter, Registry } from 'prom-client'
import { byStatus, daemonMetrics } from '../../shared/metrics.js'

t.test('byStatus counts under the status label, one kept child per code', async (t) => {
  const registry = new Registry()
  const counter = new Counter({ name: 'requests_total', help: 'h', labelNames: ['status'], registers: [registry] })
  const forStatus = byStatus(counter)
  forStatus(200).inc()
  forStatus(200).inc()
  forStatus(404).inc()
  t.equal(forStatus(200), forStatus(200), 'the same child each time')
  const text = await registry.metrics()
  t.match(text, /requests_total\{status="200"\} 2/)
  t.match(text, /requests_total\{status="404"\} 1/)
})

t.test('podside_log_lines_dropped_total reads the log sink\'s count when scraped', async (t) => {
  let dropped = 0
  const { registry } = daemonMetrics('fileproxy', () => 0, () => dropped)
  t.match(await registry.metrics(), /^podside_log_lines_dropped_total 0$/m)
  dropped = 42
  t.match(await registry.metrics(), /^podside_log_lines_dropped_total 42$/m)
  const plain = daemonMetrics('gateway', () => 0)
  t.match(await plain.registry.metrics(), /^podside_log_lines_dropped_total 0$/m, 'no sink: 0')
})
