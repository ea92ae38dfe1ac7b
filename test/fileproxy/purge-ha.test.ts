import t from 'tap'
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { publishPurge } from '../../fileproxy/purge-command.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { runCli } from '../helpers/cli.js'
import { silentLogger } from '../helpers/log.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon } from '../helpers/processes.js'
import { ask, startCluster, startSentinel } from '../helpers/redis.js'
import { getText as get, whenReady as ready } from '../helpers/fileproxy.js'

/**
 * Issue 18 under Redis Cluster and Sentinel, real processes: the purge log and the
 * acknowledgements across a master failover. Before, on a 3-master Cluster, killing the master
 * that held both file proxies' subscription left them deaf to the next purge in 4 runs of 6:
 * ioredis re-subscribed its hidden Cluster subscriber elsewhere without a word, so nothing was
 * replayed nor dropped.
 */
const root = realpathSync(mkdtempSync(join(tmpdir(), 'podside-ha-')))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
const put = (rel: string, data: string): void => writeFileSync(join(root, rel), data)
const args = (url: string): string[] => ['--root', root, '--redis', url, '--revalidate', '0']


t.test('Cluster: SIGKILL of the master holding both subscriptions; a purge published through a surviving node is applied by both', async (t) => {
  const cluster = await startCluster(3, { replicas: 1 })
  t.teardown(async () => await cluster.close())
  const nodes = [await startDaemon('fileproxy', args(cluster.url)), await startDaemon('fileproxy', args(cluster.url))]
  t.teardown(async () => await Promise.all(nodes.map(async (n) => await n.stop())))
  for (const n of nodes) await ready(n)

  // Where the subscriptions are, as Redis itself reports them.
  const subscribers = await Promise.all(cluster.ports.map(async (port) =>
    (await ask(port, async (c) => await c.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string)).split('\n').filter((l) => l.includes('name=podside-subscriber')).length))
  const holder = cluster.ports[subscribers.findIndex((n) => n === 2)]
  t.ok(holder !== undefined, `both subscriptions on one node (${subscribers.join(', ')})`)
  t.match(await ask(holder, async (c) => await c.info('replication')), /role:master/, 'a master: the one serving the purge log')

  put('ha.txt', 'ha v1')
  for (const n of nodes) t.equal(await get(n, '/ha.txt'), 'ha v1')
  put('ha.txt', 'ha v2')
  const killedAt = Date.now()
  await cluster.kill(holder)
  const survivor = cluster.ports.find((p) => p !== holder)!
  const target = parseRedisUrl(`redis-cluster://127.0.0.1:${survivor}`) as RedisTarget
  // Published as soon as the Cluster takes it (its replica promoted), through a surviving node.
  const published = await waitFor('the Cluster to take the purge', async () => {
    try { return await publishPurge(target, 'podside:purge', { paths: ['/ha.txt'], prefixes: [], all: false }, silentLogger()) } catch { return undefined }
  }, 30_000)
  t.ok(published.entries.length === 1)
  const publishedAt = Date.now()
  for (const n of nodes) await waitFor('ha v2 on every node', async () => await get(n, '/ha.txt') === 'ha v2' ? true : undefined, 20_000)
  t.comment(`figures: purge taken ${publishedAt - killedAt} ms after the kill, applied by both ${Date.now() - publishedAt} ms after that`)
  for (const n of nodes) {
    t.ok(n.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('purge subscription was lost')), 'each noticed the lost subscription and read the log')
    t.notOk(n.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('dropped the whole cache')), 'and kept its cache', { lines: n.lines.filter((l) => (l.level as number) >= 40) })
  }

  // Acknowledgements after the failover.
  for (const n of nodes) await ready(n)
  const run = await waitFor('a purge acknowledged by both after the failover', async () => {
    const r = await runCli(['purge', '--redis', `redis-cluster://127.0.0.1:${survivor}`, '--wait', '10s', '/ha.txt'])
    return r.code === 0 ? r : undefined
  }, 40_000)
  t.equal(run.stdout.split('\n').filter((l) => l.includes('acknowledged in')).length, 2)
})

t.test('Sentinel: acknowledgements before and after a failover', async (t) => {
  const sentinel = await startSentinel()
  t.teardown(async () => await sentinel.close())
  const node = await startDaemon('fileproxy', args(sentinel.url))
  t.teardown(async () => await node.stop())
  await ready(node)
  put('s.txt', 's v1')
  t.equal(await get(node, '/s.txt'), 's v1')
  put('s.txt', 's v2')
  const before = await runCli(['purge', '--redis', sentinel.url, '--wait', '10s', '/s.txt'])
  t.equal(before.code, 0, before.stdout + before.stderr)
  t.match(before.stdout, /acknowledged in \d+ ms/)
  t.equal(await get(node, '/s.txt'), 's v2')

  const failedOverAt = Date.now()
  await sentinel.failover()
  put('s.txt', 's v3')
  const after = await waitFor('a purge acknowledged through the new master', async () => {
    const run = await runCli(['purge', '--redis', sentinel.url, '--wait', '10s', '/s.txt'])
    return run.code === 0 ? run : undefined
  }, 40_000)
  t.match(after.stdout, /acknowledged in \d+ ms/)
  t.comment(`figures: a purge acknowledged ${Date.now() - failedOverAt} ms after SENTINEL FAILOVER was asked; ${after.stdout.trim().split('\n').pop()}`)
  t.equal(await get(node, '/s.txt'), 's v3')
  t.notOk(node.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('dropped the whole cache')), 'the log survived the failover: no cache drop', { lines: node.lines.filter((l) => (l.level as number) >= 40) })
})
