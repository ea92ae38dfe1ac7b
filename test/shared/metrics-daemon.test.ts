import t from 'tap'
import { daemonMetrics } from '../../shared/metrics.js'

t.test('every daemon exports standard process/nodejs names, a request histogram and an in-flight gauge', async (t) => {
  let open = 3
  const m = daemonMetrics('testd', () => open)
  m.requestsWith(200).inc()
  m.requestSeconds.observe(0.002)
  const text = await m.registry.metrics()
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes',
    'podside_testd_requests_total{status="200"} 1', 'podside_testd_request_duration_seconds_bucket{le="0.0025"} 1', 'podside_testd_requests_in_flight 3']) {
    t.match(text, name)
  }
  t.notMatch(text, /podside_testd_process_|podside_testd_nodejs_/, 'no prefixed copies of the standard series')
  open = 0
  t.match(await m.registry.metrics(), 'podside_testd_requests_in_flight 0', 'read when scraped')
})
