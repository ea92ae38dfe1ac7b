import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { publishPurge } from '../../fileproxy/purge-command.js'
import { logKey } from '../../fileproxy/purge-stream.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { runCli } from '../helpers/cli.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * Issue 18 end to end, real processes: purges that cannot be missed (the purge log replayed after
 * a cut link), that can be awaited (`podside purge --wait`), and that are never too large.
 * Node a talks to Redis directly, node b through a relay whose link the tests cut.
 */
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-replay-')))
const root = join(base, 'files')
mkdirSync(join(root, 'keep'), { recursive: true })
mkdirSync(join(root, 'purged'), { recursive: true })
const put = (rel: string, data: string): void => writeFileSync(join(root, rel), data)

const redis = await startRedis()
const admin = redis.client()
const target = parseRedisUrl(redis.url) as RedisTarget
const relay = await startTcpProxy(redis.port)
const args = (url: string): string[] => ['--root', root, '--redis', url, '--revalidate', '0']
const a = await startDaemon('fileproxy', args(redis.url))
const b = await startDaemon('fileproxy', args(`redis://127.0.0.1:${relay.port}`))
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()])
  await relay.close()
  await stopRedis(redis)
  rmSync(base, { recursive: true, force: true })
})

async function get (d: Daemon, path: string): Promise<string> {
  const res = await request(d.url + path)
  return await res.body.text()
}
async function readyz (d: Daemon): Promise<number> {
  const r = await request(d.adminUrl + '/readyz')
  await r.body.dump()
  return r.statusCode
}
const ready = async (d: Daemon): Promise<void> => { await waitFor('ready (subscribed and caught up)', async () => await readyz(d) === 200 ? true : undefined) }
async function hits (d: Daemon): Promise<number> {
  const text = await (await request(d.adminUrl + '/metrics')).body.text()
  return Number(/^podside_fileproxy_cache_hits_total (\d+)/m.exec(text)?.[1])
}
const nodeId = (d: Daemon): string => d.lines.find((l) => l.msg === 'fileproxy listening')?.node as string
await ready(a)
await ready(b)

t.test('a node cut off from Redis while 50 purges are published keeps its other cached files and applies all 50 when back', async (t) => {
  for (let i = 0; i < 10; i++) put(`keep/${i}.txt`, `keep v1 ${i}`)
  for (let i = 0; i < 50; i++) put(`purged/${i}.txt`, `purged v1 ${i}`)
  for (const d of [a, b]) {
    for (let i = 0; i < 10; i++) t.equal(await get(d, `/keep/${i}.txt`), `keep v1 ${i}`)
    for (let i = 0; i < 50; i++) await get(d, `/purged/${i}.txt`)
  }
  relay.cut()
  await waitFor('node b to notice', async () => await readyz(b) === 503 ? true : undefined)
  for (let i = 0; i < 10; i++) put(`keep/${i}.txt`, `keep v2 ${i}`)
  for (let i = 0; i < 50; i++) put(`purged/${i}.txt`, `purged v2 ${i}`)
  for (let i = 0; i < 50; i++) {
    const { receivers } = await publishPurge(target, 'podside:purge', { paths: [`/purged/${i}.txt`], prefixes: [], all: false }, silentLogger())
    t.equal(receivers, 1, 'only node a hears it')
  }
  relay.restore()
  await ready(b)
  const before = await hits(b)
  for (let i = 0; i < 10; i++) t.equal(await get(b, `/keep/${i}.txt`), `keep v1 ${i}`, 'kept: still the cached bytes')
  t.equal(await hits(b) - before, 10, 'ten cache hits: the cache was not dropped')
  for (let i = 0; i < 50; i++) t.equal(await get(b, `/purged/${i}.txt`), `purged v2 ${i}`, `purge ${i} applied`)
  t.match(b.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('purge subscription was lost')), { replayed: 50, dropped: 50 })
  t.notOk(b.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('dropped the whole cache')), 'no whole-cache drop')
  for (let i = 0; i < 50; i++) t.equal(await get(a, `/purged/${i}.txt`), `purged v2 ${i}`, 'node a applied them live')
})

t.test('a gap older than the purge log keeps (trimmed by hand) drops the whole cache when the node is back', async (t) => {
  for (let i = 0; i < 10; i++) t.equal(await get(b, `/keep/${i}.txt`), `keep v1 ${i}`, 'cached')
  relay.cut()
  await waitFor('node b to notice', async () => await readyz(b) === 503 ? true : undefined)
  for (let i = 0; i < 3; i++) await publishPurge(target, 'podside:purge', { paths: [`/purged/${i}.txt`], prefixes: [], all: false }, silentLogger())
  await admin.xtrim(logKey('podside:purge'), 'MAXLEN', 0)
  relay.restore()
  await ready(b)
  for (let i = 0; i < 10; i++) t.equal(await get(b, `/keep/${i}.txt`), `keep v2 ${i}`, 'dropped: the new bytes are read')
  t.match(b.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('dropped the whole cache')), { reason: /older than the purge log keeps/ })
})

t.test('a plain `redis-cli PUBLISH podside:purge /path` is still applied (it cannot be replayed)', async (t) => {
  put('keep/plain.txt', 'plain v1')
  for (const d of [a, b]) t.equal(await get(d, '/keep/plain.txt'), 'plain v1')
  put('keep/plain.txt', 'plain v2')
  const cli = spawnSync('redis-cli', ['-p', String(redis.port), 'PUBLISH', 'podside:purge', '/keep/plain.txt'], { encoding: 'utf8' })
  t.equal(cli.stdout.trim(), '2', 'two subscribers')
  for (const d of [a, b]) await waitFor('the plain purge', async () => await get(d, '/keep/plain.txt') === 'plain v2' ? true : undefined)
  t.pass()
})

t.test('podside purge of 5,001 paths: split under the 64 KiB limit, one id, applied by both nodes', async (t) => {
  const paths = Array.from({ length: 5001 }, (_, i) => `/purged/many-${String(i).padStart(5, '0')}.txt`)
  for (const i of [0, 2500, 5000]) put(paths[i].slice(1), 'many v1')
  for (const d of [a, b]) for (const i of [0, 2500, 5000]) t.equal(await get(d, paths[i]), 'many v1')
  for (const i of [0, 2500, 5000]) put(paths[i].slice(1), 'many v2')
  const run = await runCli(['purge', '--redis', redis.url, '--wait', '10s', ...paths])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^purge \S+ received by 2 file proxies \(in \d+ messages\)\n/)
  t.equal(run.stdout.split('\n').filter((l) => l.includes('acknowledged in')).length, 2, 'both acknowledged every part')
  for (const d of [a, b]) for (const i of [0, 2500, 5000]) t.equal(await get(d, paths[i]), 'many v2', `${paths[i]} purged`)
  for (const d of [a, b]) t.notOk(d.lines.find((l) => l.msg === 'purge message ignored'), 'no part was ignored')
})

t.test('podside purge --wait: one line per node; a paused (SIGSTOP) node is named and the exit is 1', async (t) => {
  const c = await startDaemon('fileproxy', args(redis.url))
  t.teardown(async () => { c.child.kill('SIGCONT'); await c.stop() })
  await ready(c)
  const ids = [a, b, c].map(nodeId)
  t.ok(ids.every((id) => /^[0-9a-f]{12}$/.test(id)), 'each node logs its fleet id')
  const all = await runCli(['purge', '--redis', redis.url, '--wait', '/keep/0.txt'])
  t.equal(all.code, 0, all.stderr)
  for (const id of ids) t.match(all.stdout, new RegExp(`^${id} \\(.*\\) acknowledged in \\d+ ms$`, 'm'))
  c.child.kill('SIGSTOP')
  const paused = await runCli(['purge', '--redis', redis.url, '--wait', '1s', '/keep/1.txt'])
  t.equal(paused.code, 1)
  t.match(paused.stdout, /received by 3 file proxies/, 'the kernel took its message; the process did not apply it')
  for (const id of ids.slice(0, 2)) t.match(paused.stdout, new RegExp(`^${id} \\(.*\\) acknowledged in \\d+ ms$`, 'm'))
  t.match(paused.stdout, new RegExp(`^${ids[2]} \\(.*\\) did not acknowledge$`, 'm'))
  t.match(paused.stderr, new RegExp(`1 file proxy did not acknowledge within 1s: ${ids[2]} \\(`))
  t.notMatch(paused.stderr, ids[0])
  c.child.kill('SIGCONT')
  await waitFor('the paused node to catch up and acknowledge', async () => {
    const run = await runCli(['purge', '--redis', redis.url, '--wait', '2s', '/keep/2.txt'])
    return run.code === 0 ? run : undefined
  }, 20_000)
  t.pass('all three acknowledge once it runs again')
})

t.test('podside purge --wait: a bad TIMEOUT is exit 2 naming --wait, and nothing is published', async (t) => {
  const before = await admin.xlen(logKey('podside:purge'))
  for (const bad of [['--wait', 'abc'], ['--wait', '0'], ['--wait=-1s']]) {
    const run = await runCli(['purge', '--redis', redis.url, ...bad, '/keep/0.txt'])
    t.equal(run.code, 2, bad.join(' '))
    t.match(run.stderr, /--wait/)
  }
  t.equal(await admin.xlen(logKey('podside:purge')), before)
  const help = await runCli(['purge', '--help'])
  t.match(help.stdout, /--wait \[<duration>\]/)
})

t.test('podside purge: a path that cannot fit in any message is exit 2 naming the limit', async (t) => {
  const run = await runCli(['purge', '--redis', redis.url, '/' + 'a'.repeat(70_000)])
  t.equal(run.code, 2)
  t.match(run.stderr, /cannot fit in a purge message \(65472 bytes at most\)/)
})

t.test('the fleet registry shows each file proxy\'s last purge id applied (podside status)', async (t) => {
  const run = await runCli(['purge', '--redis', redis.url, '--wait', '/keep/3.txt'])
  const id = /^purge (\S+) /.exec(run.stdout)?.[1]
  await waitFor('the next heartbeats to carry it', async () => {
    const status = await runCli(['status', '--redis', redis.url, '--json'])
    const nodes = (JSON.parse(status.stdout) as { nodes: Array<{ id: string, lastPurgeId: string | null }> }).nodes
    return [a, b].every((d) => nodes.find((n) => n.id === nodeId(d))?.lastPurgeId === id) ? true : undefined
  }, 15_000)
  const table = await runCli(['status', '--redis', redis.url])
  t.match(table.stdout, new RegExp(`${nodeId(a)} .*${id}`))
})
