import t, { type Test } from 'tap'
import { createChannelSubscriber } from '../../shared/channel-subscriber.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { parsePurgeMessage } from '../../fileproxy/purge-message.js'
import { publishPurge, purgeSettings } from '../../fileproxy/purge-command.js'
import { runCli } from '../helpers/cli.js'
import { capturingLogger, silentLogger } from '../helpers/log.js'
import { freePort, waitFor } from '../helpers/ports.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * `podside purge` (cli.ts → fileproxy/purge-command.ts) against a real redis-server, with real
 * channel subscribers standing in for the file proxies: what they receive, the count printed,
 * and the exit codes (0 received, 1 nobody or Redis unreachable, 2 bad input).
 */
const redis = await startRedis()
const target = parseRedisUrl(redis.url) as RedisTarget
t.teardown(async () => await stopRedis(redis))

let channelSeq = 0
/** `n` subscribers on a fresh channel; each keeps the messages it received. */
async function proxies (t: Test, n: number, channel = `test:purge:${++channelSeq}`) {
  const received = Array.from({ length: n }, () => [] as string[])
  const subs = received.map((inbox) => createChannelSubscriber(target, { channel, timeoutMs: 500, log: silentLogger(), onMessage: (m) => inbox.push(m) }))
  t.teardown(async () => { await Promise.all(subs.map(async (s) => await s.close())) })
  await waitFor(`${n} subscriptions`, () => subs.every((s) => s.ready) ? true : undefined)
  return {
    channel,
    received,
    /** Resolves once every subscriber has what was published before. */
    sync: async () => { await Promise.all(subs.map(async (s) => await s.sync())) }
  }
}

t.test('publishPurge: paths only, every subscriber receives one JSON message naming them, and the count is returned', async (t) => {
  const p = await proxies(t, 2)
  const { id, receivers, entries } = await publishPurge(target, p.channel, { paths: ['/a.png', '/b/c.txt'], prefixes: [], all: false }, silentLogger())
  t.equal(receivers, 2)
  t.match(id, /^[0-9a-f-]{36}$/, 'a random UUID when none is given')
  t.match(entries, [/^\d+-\d+$/], 'one purge log entry')
  await p.sync()
  for (const inbox of p.received) t.same(inbox.map((m) => JSON.parse(m)), [{ log: entries[0], id, paths: ['/a.png', '/b/c.txt'] }], 'its log entry first; no empty prefixes, no all:false')
  t.same(parsePurgeMessage(p.received[0][0], 64 * 1024), { id, log: entries[0], paths: ['/a.png', '/b/c.txt'], prefixes: [], all: false }, 'what the file proxy parses back')
})

t.test('publishPurge: prefixes, all, and a given id are carried as such', async (t) => {
  const p = await proxies(t, 1)
  const prefix = await publishPurge(target, p.channel, { id: 'deploy-42', paths: [], prefixes: ['/avatars/'], all: false }, silentLogger())
  const all = await publishPurge(target, p.channel, { paths: [], prefixes: [], all: true }, silentLogger())
  t.equal(prefix.id, 'deploy-42')
  await p.sync()
  t.same(p.received[0].map((m) => JSON.parse(m)), [{ log: prefix.entries[0], id: 'deploy-42', prefixes: ['/avatars/'] }, { log: all.entries[0], id: all.id, all: true }])
})

t.test('publishPurge: nobody subscribed is a count of 0, not an error', async (t) => {
  const { receivers } = await publishPurge(target, 'test:purge:nobody', { paths: ['/x'], prefixes: [], all: false }, silentLogger())
  t.equal(receivers, 0)
})

t.test('the purge settings: --redis required by the command, channel podside:purge, --prefix and --all off', async (t) => {
  t.same(Object.keys(purgeSettings), ['redis', 'purgeChannel', 'prefix', 'all', 'wait'])
  const { log, lines } = capturingLogger()
  const p = await proxies(t, 1, 'podside:purge')
  t.equal((await publishPurge(target, 'podside:purge', { paths: ['/d.txt'], prefixes: [], all: false }, log)).receivers, 1)
  await p.sync()
  t.equal(p.received[0].length, 1)
  t.same(lines.filter((l) => (l.level as number) >= 40), [], 'nothing to warn about')
})

t.test('podside purge PATH: prints the id and "received by 1 file proxy", exits 0; the subscriber gets the normalised path', async (t) => {
  const p = await proxies(t, 1)
  const run = await runCli(['purge', '--redis', redis.url, '--purge-channel', p.channel, '//avatars//42.png'])
  t.equal(run.code, 0, run.stderr)
  const m = /^purge (\S+) received by 1 file proxy\n$/.exec(run.stdout)
  t.ok(m, run.stdout)
  await p.sync()
  t.match(JSON.parse(p.received[0][0]), { log: /^\d+-\d+$/, id: m?.[1], paths: ['/avatars/42.png'] })
})

t.test('podside purge: plural count for several file proxies; --prefix and --all; REDIS_URL as the address', async (t) => {
  const p = await proxies(t, 3)
  const prefix = await runCli(['purge', '--purge-channel', p.channel, '--prefix', '/avatars//', '/docs/'], { REDIS_URL: redis.url })
  t.equal(prefix.code, 0, prefix.stderr)
  t.match(prefix.stdout, /received by 3 file proxies\n$/)
  const all = await runCli(['purge', '--redis', redis.url, '--purge-channel', p.channel, '--all'])
  t.equal(all.code, 0, all.stderr)
  await p.sync()
  t.match(p.received[2].map((m) => JSON.parse(m)), [{ prefixes: ['/avatars/', '/docs/'] }, { all: true }])
})

t.test('podside purge exits 1 when no file proxy received it (and says 0)', async (t) => {
  const run = await runCli(['purge', '--redis', redis.url, '--purge-channel', 'test:purge:nobody', '/a.png'])
  t.equal(run.code, 1)
  t.equal(run.stdout.replace(/purge \S+ /, 'purge ID '), 'purge ID received by 0 file proxies\n')
})

t.test('podside purge exits 1 with one line when Redis cannot be reached', async (t) => {
  const port = await freePort()
  const run = await runCli(['purge', '--redis', `redis://127.0.0.1:${port}`, '/a.png'])
  t.equal(run.code, 1)
  t.equal(run.stdout, '')
  t.equal(run.stderr, `podside purge: cannot reach Redis at redis://127.0.0.1:${port}\n`)
})

t.test('podside purge exits 2 on bad input, publishing nothing', async (t) => {
  const p = await proxies(t, 1, 'podside:purge')
  const cases: Array<[string, string[], RegExp]> = [
    ['no path', ['--redis', redis.url], /name at least one path, or --all/],
    ['--all with a path', ['--redis', redis.url, '--all', '/a.png'], /--all takes no paths/],
    ['--all with --prefix', ['--redis', redis.url, '--all', '--prefix'], /--all and --prefix exclude each other/],
    ['a traversal', ['--redis', redis.url, '../etc/passwd'], /"\.\.\/etc\/passwd" is not a servable path/],
    ['a dot segment in a prefix', ['--redis', redis.url, '--prefix', '/a/../'], /is not a servable path: dot segments in prefix/],
    ['no --redis', ['/a.png'], /--redis \(PODSIDE_REDIS, REDIS_URL\) is required/],
    ['a malformed --redis', ['--redis', 'http://x', '/a.png'], /redis/]
  ]
  const runs = await Promise.all(cases.map(async ([, args]) => await runCli(['purge', ...args])))
  for (const [i, [what, , stderr]] of cases.entries()) {
    const run = runs[i]
    t.equal(run.code, 2, what)
    t.match(run.stderr, stderr, what)
    t.equal(run.stdout, '', what)
  }
  await p.sync()
  t.same(p.received[0], [], 'nothing was published')
})

t.test('podside purge --help prints its settings and exits 0', async (t) => {
  const run = await runCli(['purge', '--help'])
  t.equal(run.code, 0)
  t.match(run.stdout, /podside purge \[settings\] PATH… \| --prefix P… \| --all/)
  for (const flag of ['--redis', '--purge-channel', '--prefix', '--all']) t.match(run.stdout, flag)
})
