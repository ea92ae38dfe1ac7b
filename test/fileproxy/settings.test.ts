import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../shared/load-config.js'
import { checkFileproxyConfig, fileproxySettings } from '../../fileproxy/settings.js'

const root = mkdtempSync(join(tmpdir(), 'podside-settings-'))
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(fileproxySettings, argv, env, checkFileproxyConfig).values
const problems = (argv: string[]): readonly string[] => {
  try { load(argv) } catch (err) { if (err instanceof ConfigError) return err.problems; throw err }
  return []
}

t.test('defaults of the contract', async (t) => {
  const v = load(['--root', root])
  t.same(v.listen, { host: '0.0.0.0', port: 8081 })
  t.same(v.adminListen, { host: '127.0.0.1', port: 9902 })
  t.equal(v.cacheSize, 256 * 1024 * 1024)
  t.equal(v.maxObjectSize, 8 * 1024 * 1024)
  t.equal(v.revalidate, 60_000)
  t.equal(v.purgeChannel, 'podside:purge')
  t.equal(v.hashParam, 'v')
  t.equal(v.redis, undefined)
  t.equal(v.staleIfError, 3_600_000)
  t.equal(v.compress, true)
})

t.test('--stale-if-error and --compress: parsed, and a window shorter than --revalidate is refused', async (t) => {
  const v = load(['--root', root, '--stale-if-error', '0', '--compress', 'false'])
  t.same([v.staleIfError, v.compress], [0, false])
  t.equal(load(['--root', root, '--revalidate', '0', '--stale-if-error', '1s']).staleIfError, 1000, 'with --revalidate 0 any window is accepted (nothing is re-checked)')
  t.equal(load([], { PODSIDE_ROOT: root, PODSIDE_COMPRESS: 'false', PODSIDE_STALE_IF_ERROR: '2h' }).staleIfError, 7_200_000)
  t.match(problems(['--root', root, '--stale-if-error', '30s', '--compress=maybe']), [
    /--compress: expected true or false, got "maybe"/,
    /--stale-if-error \(PODSIDE_STALE_IF_ERROR\): expected 0 or at least --revalidate \(1m\), got 30s/
  ])
  t.match(problems(['--root', root, '--stale-if-error', 'soon']), [/--stale-if-error: expected a duration.*got "soon"/])
})

t.test('settings from the environment', async (t) => {
  const v = load([], { PODSIDE_ROOT: root, PODSIDE_CACHE_SIZE: '64MiB', PODSIDE_REVALIDATE: '0', REDIS_URL: 'redis-cluster://a:7000,b:7001' })
  t.equal(v.cacheSize, 64 * 1024 * 1024)
  t.equal(v.revalidate, 0)
  t.match(v.redis, { mode: 'cluster' })
})

t.test('every problem at once: missing root, bad sizes, object larger than the cache, poll without watch', async (t) => {
  t.match(problems(['--root', join(root, 'missing'), '--cache-size', '64MB', '--max-object-size', '1GiB', '--watch-poll', '--hash-param', 'a b']), [
    /--cache-size: expected a size.*got "64MB"/,
    /--root \(PODSIDE_ROOT\): expected a readable directory/,
    /--max-object-size .*expected at most --cache-size \(256MiB\), got 1GiB/,
    /--hash-param .*got "a b"/,
    /--watch-poll .*needs --watch/
  ])
  t.match(problems([]), [/--root \(PODSIDE_ROOT\) is required/])
})
