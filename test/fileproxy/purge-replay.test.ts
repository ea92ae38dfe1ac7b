import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { publishPurge } from '../../fileproxy/purge-command.js'
import { logKey } from '../../fileproxy/purge-stream.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { getText as get, readyz, whenReady as ready } from '../helpers/fileproxy.js'

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

async function hits (d: Daemon): Promise<number> {
  const text = await (await request(d.adminUrl + '/metrics')).body.text()
  return Number(/^podside_fileproxy_cache_hits_total (\d+)/m.exec(text)?.[1])
}
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
  t.match(await (await request(b.adminUrl + '/metrics')).body.text(), /^podside_fileproxy_purges_received_total\{source="replay"\} 50$/m, 'counted as 50 replayed')
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
