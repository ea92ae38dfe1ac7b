import t from 'tap'
import { ConfigError, envName, flagName, loadConfig } from '../../shared/load-config.js'
import { checkGatewayConfig, gatewaySettings } from '../../gateway/settings.js'

const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(gatewaySettings, argv, env, checkGatewayConfig)
const problems = (argv: string[], env: NodeJS.ProcessEnv = {}): readonly string[] => {
  try { load(argv, env) } catch (err) { if (err instanceof ConfigError) return err.problems; throw err }
  return []
}

t.test('names: --kebab-name and PODSIDE_SCREAMING_NAME, one to one', async (t) => {
  t.equal(flagName('idleTimeout'), 'idle-timeout')
  t.equal(envName('idleTimeout'), 'PODSIDE_IDLE_TIMEOUT')
})

t.test('defaults, then env, then flags (the flag wins)', async (t) => {
  const base = load(['--upstream', 'http://127.0.0.1:3000']).values
  t.equal(base.idleTimeout, 2 * 3600 * 1000)
  t.equal(base.cookieName, 'podside')
  t.same(base.listen, { host: '0.0.0.0', port: 8080 })
  const env = { PODSIDE_UPSTREAM: 'http://127.0.0.1:3000', PODSIDE_IDLE_TIMEOUT: '15m', PODSIDE_TRUST_PROXY: 'true' }
  t.equal(load([], env).values.idleTimeout, 15 * 60 * 1000)
  t.equal(load([], env).values.trustProxy, true)
  t.equal(load(['--idle-timeout=30s'], env).values.idleTimeout, 30_000)
  t.equal(load(['--trust-proxy=false'], env).values.trustProxy, false)
  t.equal(load(['--trust-proxy', 'false'], env).values.trustProxy, false, 'a boolean takes a following true/false')
  t.match(load(['--trust-proxy', '--idle-timeout', '1m'], env).values, { trustProxy: true, idleTimeout: 60_000 }, 'alone it means true')
})

t.test('--redis falls back to REDIS_URL', async (t) => {
  const v = load(['--upstream', 'http://a:1', '--secret', 'x'.repeat(32)], { REDIS_URL: 'redis://10.0.0.5:6380/2' }).values
  t.match(v.redis, { mode: 'standalone', host: '10.0.0.5', port: 6380, db: 2 })
})

t.test('every problem is reported at once, naming the setting and the value received', async (t) => {
  const p = problems(['--idle-timeout', '2 hours', '--listen', 'nowhere', '--bogus', '--cookie-secure', 'sometimes', '--secret', 'short'],
    { PODSIDE_REDIS: 'mysql://x' })
  t.match(p, [
    'unknown flag --bogus',
    /--upstream \(PODSIDE_UPSTREAM\) is required/,
    /--listen: expected host:port.*got "nowhere"/,
    /PODSIDE_REDIS: expected a scheme.*got "mysql:\/\/x"/,
    /--cookie-secure: expected one of auto, always, never, got "sometimes"/,
    /--idle-timeout: expected a duration.*got "2 hours"/,
    /--secret \(PODSIDE_SECRET\): key 1 has 5 characters, expected at least 32/
  ])
})

t.test('cross-setting checks: --secret with --redis, absolute >= idle, admin port apart', async (t) => {
  t.match(problems(['--upstream', 'http://a:1', '--redis', 'redis://r:6379']), [/--secret .* is required with --redis/])
  t.match(problems(['--upstream', 'http://a:1', '--idle-timeout', '2h', '--absolute-timeout', '1h']), [/--absolute-timeout .*expected at least --idle-timeout \(2h\), got 1h/])
  t.match(problems(['--upstream', 'http://a:1', '--listen', '127.0.0.1:9000', '--admin-listen', '127.0.0.1:9000']), [/--admin-listen/])
  t.match(problems(['--upstream', 'https://a:1']), [/--upstream: expected an http:\/\/ URL/])
})

t.test('the result is frozen', async (t) => {
  const v = load(['--upstream', 'http://a:1', '--passthrough-cookies', 'XSRF-TOKEN,csrf'])
  t.ok(Object.isFrozen(v.values))
  t.ok(Object.isFrozen(v.values.passthroughCookies))
  t.same(v.values.passthroughCookies, ['XSRF-TOKEN', 'csrf'])
})
