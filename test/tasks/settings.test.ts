import t from 'tap'
import { ConfigError, loadConfig } from '../../shared/load-config.js'
import { checkWorkerConfig, workerSettings } from '../../tasks/settings.js'
import { checkGatewayConfig, gatewaySettings } from '../../gateway/settings.js'
import { runCli } from '../helpers/cli.js'

t.test('worker defaults follow DESIGN', async (t) => {
  const { values } = loadConfig(workerSettings, ['--upstream', 'http://127.0.0.1:3000'], {}, checkWorkerConfig)
  t.match(values, {
    adminListen: { host: '127.0.0.1', port: 9903 }, tasksConcurrency: 16, tasksPath: '/_podside/tasks', tasksTimeout: 60_000,
    tasksLease: 15_000, tasksMaxAttempts: 10, tasksBackoff: { minMs: 1000, maxMs: 600_000 }, tasksRetention: 7 * 86_400_000
  })
  t.equal(workerSettings.tasksBackoff.show(values.tasksBackoff), '1s..10m')
})

t.test('every bad tasks setting is reported at once, naming the setting', async (t) => {
  const argv = ['--upstream', 'http://127.0.0.1:3000', '--tasks-concurrency', '0', '--tasks-path', 'tasks/', '--tasks-lease', '100ms',
    '--tasks-backoff', '10m..1s', '--tasks-timeout', '0', '--tasks-retention', '0', '--tasks-max-attempts', 'x', '--admin-listen', '0.0.0.0:9903']
  try {
    loadConfig(workerSettings, argv, {}, checkWorkerConfig)
    t.fail('expected a ConfigError')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    const text = (err as ConfigError).problems.join('\n')
    for (const s of ['--tasks-concurrency', '--tasks-path', '--tasks-lease', '--tasks-backoff', '--tasks-timeout', '--tasks-retention', '--tasks-max-attempts', '--admin-token']) t.match(text, s)
  }
  t.throws(() => loadConfig(workerSettings, ['--upstream', 'http://a', '--tasks-backoff', '1s'], {}, checkWorkerConfig), /MIN\.\.MAX/)
  t.throws(() => loadConfig(workerSettings, ['--upstream', 'http://a', '--tasks-backoff', '1s..2s..3s'], {}, checkWorkerConfig), /MIN\.\.MAX/)
})

t.test('the gateway checks tasks settings only with --tasks', async (t) => {
  const base = ['--upstream', 'http://127.0.0.1:3000', '--tasks-lease', '1ms']
  t.doesNotThrow(() => loadConfig(gatewaySettings, base, {}, checkGatewayConfig))
  t.throws(() => loadConfig(gatewaySettings, [...base, '--tasks'], {}, checkGatewayConfig), /--tasks-lease/)
})

t.test('podside tasks worker: exit 2 on bad settings, --check-config prints them', async (t) => {
  t.match(await runCli(['tasks', 'worker', '--tasks-lease', '1ms']), { code: 2, stderr: /--upstream.*required[\s\S]*--tasks-lease/ })
  t.match(await runCli(['tasks', 'worker', '--upstream', 'http://127.0.0.1:1', '--check-config']), { code: 0, stdout: /--tasks-backoff = 1s\.\.10m/ })
  t.match(await runCli(['tasks', 'worker', '--upstream', 'http://127.0.0.1:1', 'extra']), { code: 2, stderr: /unexpected argument/ })
})
