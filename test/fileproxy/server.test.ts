import t from 'tap'
import net from 'node:net'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { runCli } from '../helpers/cli.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'
import { startCluster, startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * End to end with real processes: two `podside fileproxy` over one temporary root (the "network
 * volume") and one real redis-server; `podside purge` and `podside url` run as commands.
 */
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-fp-')))
const root = join(base, 'uploads')
mkdirSync(join(root, 'avatars'), { recursive: true })
writeFileSync(join(base, 'secret.txt'), 'outside the root')
const put = (rel: string, data: string | Buffer): void => writeFileSync(join(root, rel), data)
put('avatars/42.png', 'avatar v1')
put('avatars/7.png', 'seven v1')
put('banner.txt', 'banner v1')

const redis = await startRedis()
// Node b reaches Redis through a relay, so its link can be cut while Redis stays up.
const relay = await startTcpProxy(redis.port)
// --revalidate 0: only purges refresh the cache, so every refresh seen below is a purge's doing.
const args = (redisUrl: string): string[] => ['--root', root, '--redis', redisUrl, '--revalidate', '0']
const a = await startDaemon('fileproxy', args(redis.url))
const b = await startDaemon('fileproxy', args(`redis://127.0.0.1:${relay.port}`))
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()])
  await relay.close()
  await stopRedis(redis)
  rmSync(base, { recursive: true, force: true })
})

async function get (d: Daemon, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(d.url + path, { method: method as 'GET', headers })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}
const subscribed = async (d: Daemon): Promise<void> => {
  await waitFor('the purge subscription', async () => {
    const r = await request(d.adminUrl + '/readyz')
    await r.body.dump()
    return r.statusCode === 200 ? true : undefined
  })
}
await subscribed(a)
await subscribed(b)

t.test('a changed file is served from cache until `podside purge`, then both nodes serve the new bytes', async (t) => {
  t.equal((await get(a, '/avatars/42.png')).text, 'avatar v1')
  t.equal((await get(b, '/avatars/42.png')).text, 'avatar v1')
  put('avatars/42.png', 'avatar v2')
  t.equal((await get(a, '/avatars/42.png')).text, 'avatar v1', 'still the cached bytes')
  const purge = await runCli(['purge', '--redis', redis.url, '/avatars/42.png'])
  t.equal(purge.code, 0, purge.stderr)
  t.match(purge.stdout, /received by 2 file proxies/)
  await waitFor('both nodes to serve v2', async () =>
    (await get(a, '/avatars/42.png')).text === 'avatar v2' && (await get(b, '/avatars/42.png')).text === 'avatar v2' ? true : undefined)
  t.pass('both nodes serve the new bytes')
})

t.test('a purge of /a.png also clears the //a.png spelling', async (t) => {
  put('banner.txt', 'banner v1')
  t.equal((await get(a, '//banner.txt')).text, 'banner v1')
  put('banner.txt', 'banner v2')
  await runCli(['purge', '--redis', redis.url, '/banner.txt'])
  await waitFor('the new banner', async () => (await get(a, '//banner.txt')).text === 'banner v2' ? true : undefined)
  t.pass()
})

t.test('prefix and all purges; plain-path messages from redis-cli', async (t) => {
  put('avatars/7.png', 'seven v1')
  await get(a, '/avatars/7.png')
  put('avatars/7.png', 'seven v2')
  const prefix = await runCli(['purge', '--redis', redis.url, '--prefix', '/avatars/'])
  t.equal(prefix.code, 0)
  await waitFor('the prefix purge', async () => (await get(a, '/avatars/7.png')).text === 'seven v2' ? true : undefined)
  put('avatars/7.png', 'seven v3')
  t.equal((await runCli(['purge', '--redis', redis.url, '--all'])).code, 0)
  await waitFor('the all purge', async () => (await get(a, '/avatars/7.png')).text === 'seven v3' ? true : undefined)
  put('avatars/7.png', 'seven v4')
  const client = redis.client()
  t.equal(await client.publish('podside:purge', '/avatars/7.png'), 2, 'what `redis-cli PUBLISH podside:purge /avatars/7.png` does')
  await waitFor('the plain-path purge', async () => (await get(b, '/avatars/7.png')).text === 'seven v4' ? true : undefined)
  await client.publish('podside:purge', '{not json')
  await waitFor('the malformed message to be logged', () => a.lines.find((l) => l.msg === 'purge message ignored'))
  t.equal(a.child.exitCode, null, 'a malformed message is ignored, never fatal')
})

t.test('`podside purge` exits 1 when no file proxy received it, 2 on bad input', async (t) => {
  const none = await runCli(['purge', '--redis', redis.url, '--purge-channel', 'nobody-listens', '/a.png'])
  t.equal(none.code, 1)
  t.match(none.stdout, /received by 0 file proxies/)
  t.equal((await runCli(['purge', '--redis', redis.url])).code, 2)
  t.equal((await runCli(['purge', '--redis', redis.url, '../etc/passwd'])).code, 2)
  t.equal((await runCli(['purge', '/a.png'])).code, 2, '--redis is required')
})

t.test('a purge published while a node\'s Redis link is cut takes effect when it reconnects', async (t) => {
  put('banner.txt', 'cut v1')
  await runCli(['purge', '--redis', redis.url, '/banner.txt'])
  await waitFor('v1 everywhere', async () => (await get(b, '/banner.txt')).text === 'cut v1' ? true : undefined)
  relay.cut()
  await waitFor('node b to notice', async () => {
    const r = await request(b.adminUrl + '/readyz')
    await r.body.dump()
    return r.statusCode === 503 ? true : undefined
  })
  put('banner.txt', 'cut v2')
  const purge = await runCli(['purge', '--redis', redis.url, '/banner.txt'])
  t.match(purge.stdout, /received by 1 file proxy\b/, 'only node a heard it')
  t.equal((await get(b, '/banner.txt')).text, 'cut v1', 'node b missed the purge and still serves the old bytes')
  relay.restore()
  await subscribed(b)
  t.equal((await get(b, '/banner.txt')).text, 'cut v2', 'after resubscribing, node b dropped its cache')
  t.ok(b.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('purge subscription was lost')), 'and said so in its log')
})

t.test('HTTP semantics: ETag, 304, HEAD, Range, 416, 405', async (t) => {
  put('doc.txt', '0123456789')
  const full = await get(a, '/doc.txt')
  t.equal(full.status, 200)
  t.match(full.headers.etag, /^"[A-Za-z0-9_-]{22}"$/)
  t.equal(full.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(full.headers['accept-ranges'], 'bytes')
  const etag = full.headers.etag as string
  t.equal((await get(a, '/doc.txt', { 'if-none-match': etag })).status, 304)
  const head = await get(a, '/doc.txt', {}, 'HEAD')
  t.same([head.status, head.text, head.headers['content-length']], [200, '', '10'])
  const part = await get(a, '/doc.txt', { range: 'bytes=2-4' })
  t.same([part.status, part.text, part.headers['content-range']], [206, '234', 'bytes 2-4/10'])
  const beyond = await get(a, '/doc.txt', { range: 'bytes=50-60' })
  t.same([beyond.status, beyond.headers['content-range']], [416, 'bytes */10'])
  t.equal((await get(a, '/doc.txt', { 'if-match': '"nope"' })).status, 412)
  const post = await get(a, '/doc.txt', {}, 'POST')
  t.same([post.status, post.headers.allow], [405, 'GET, HEAD'])
  t.equal(JSON.parse(post.text).error.code, 'FP_ERR_METHOD_NOT_ALLOWED')
})

t.test('hash URLs: immutable only for the current hash; `podside url` prints it', async (t) => {
  put('hashed.txt', 'hash me')
  const url = await runCli(['url', '--admin', a.adminUrl, '/hashed.txt'])
  t.equal(url.code, 0, url.stderr)
  const printed = url.stdout.trim()
  t.match(printed, /^\/hashed\.txt\?v=[A-Za-z0-9_-]{22}$/)
  t.equal((await get(a, printed)).headers['cache-control'], 'public, max-age=31536000, immutable')
  const hash = printed.split('=')[1]
  for (const q of ['', '?v=stale', '?v=', `?v=${hash}&v=${hash}`, `?x=${hash}`]) {
    t.equal((await get(a, '/hashed.txt' + q)).headers['cache-control'], 'public, max-age=0, must-revalidate', q || 'no query')
  }
  const missing = await runCli(['url', '--admin', a.adminUrl, '/missing.png'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /FP_ERR_NOT_FOUND/)
})

t.test('traversal over the wire is refused and never reveals file-system paths', async (t) => {
  symlinkSync(join(base, 'secret.txt'), join(root, 'leak.txt'))
  const { port, hostname } = new URL(a.url)
  const raw = async (path: string): Promise<string> => await new Promise((resolve) => {
    const s = net.connect(Number(port), hostname, () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
    let out = ''
    s.on('data', (d) => { out += String(d) })
    s.on('close', () => resolve(out))
  })
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/avatars/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/leak.txt', '/.hidden', '/avatars/', '/avatars']) {
    const out = await raw(path)
    t.match(out, /^HTTP\/1\.1 (400|403|404) /, path)
    t.notMatch(out, /outside the root/, `${path}: no outside bytes`)
    t.notMatch(out, base, `${path}: no file-system path`)
  }
})

t.test('POST /v1/purge on the admin listener purges this node only', async (t) => {
  put('local.txt', 'l1')
  await get(a, '/local.txt')
  await get(b, '/local.txt')
  put('local.txt', 'l2')
  const res = await request(a.adminUrl + '/v1/purge', { method: 'POST', body: '{"paths":["/local.txt"]}' })
  t.same(await res.body.json(), { purged: 1 })
  t.equal((await get(a, '/local.txt')).text, 'l2')
  t.equal((await get(b, '/local.txt')).text, 'l1')
  const bad = await request(a.adminUrl + '/v1/purge', { method: 'POST', body: 'nonsense' })
  t.equal(bad.statusCode, 400)
  await bad.body.dump()
  const wrongMethod = await request(a.adminUrl + '/v1/purge')
  t.same([wrongMethod.statusCode, wrongMethod.headers.allow], [405, 'POST'])
  t.equal((await wrongMethod.body.json() as { error: { code: string } }).error.code, 'FP_ERR_METHOD_NOT_ALLOWED')
})

t.test('admin metrics name the cache\'s counters', async (t) => {
  const res = await request(a.adminUrl + '/metrics')
  const text = await res.body.text()
  for (const name of ['podside_fileproxy_cache_hits_total', 'podside_fileproxy_cache_misses_total', 'podside_fileproxy_disk_reads_total',
    'podside_fileproxy_cache_bytes', 'podside_fileproxy_cache_entries', 'podside_fileproxy_cache_evictions_total',
    'podside_fileproxy_purges_received_total', 'podside_fileproxy_cache_drops_on_reconnect_total']) t.match(text, name)
})

t.test('--watch purges changed paths without Redis', async (t) => {
  const w = await startDaemon('fileproxy', ['--root', root, '--watch', '--revalidate', '0'])
  t.teardown(async () => await w.stop())
  put('watched.txt', 'w1')
  await waitFor('w1', async () => (await get(w, '/watched.txt')).text === 'w1' ? true : undefined)
  put('watched.txt', 'w2')
  await waitFor('the watcher to purge', async () => (await get(w, '/watched.txt')).text === 'w2' ? true : undefined)
  t.pass()
})

t.test('the subscriber works against a real Redis Cluster; purge counts receivers across nodes', async (t) => {
  const cluster = await startCluster(3)
  t.teardown(async () => await cluster.close())
  const nodes = [await startDaemon('fileproxy', args(cluster.url)), await startDaemon('fileproxy', args(cluster.url))]
  t.teardown(async () => await Promise.all(nodes.map(async (n) => await n.stop())))
  for (const n of nodes) await subscribed(n)
  put('clustered.txt', 'c1')
  for (const n of nodes) t.equal((await get(n, '/clustered.txt')).text, 'c1')
  put('clustered.txt', 'c2')
  const purge = await runCli(['purge', '--redis', cluster.url, '/clustered.txt'])
  t.equal(purge.code, 0, purge.stderr)
  t.match(purge.stdout, /received by 2 file proxies/)
  for (const n of nodes) await waitFor('c2 on every node', async () => (await get(n, '/clustered.txt')).text === 'c2' ? true : undefined)
})

t.test('memory: --cache-size 8MiB, 60 files of 1 MiB and a 200 MiB file', async (t) => {
  const MiB = 1024 * 1024
  mkdirSync(join(root, 'mem'))
  const digests: string[] = []
  for (let i = 0; i < 60; i++) {
    const data = Buffer.alloc(MiB, i)
    digests.push(createHash('sha256').update(data).digest('hex'))
    put(`mem/${i}.bin`, data)
  }
  const big = Buffer.alloc(200 * MiB)
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff
  put('mem/big.bin', big)
  const bigDigest = createHash('sha256').update(big).digest('hex')
  const m = await startDaemon('fileproxy', ['--root', root, '--cache-size', '8MiB', '--max-object-size', '2MiB'])
  t.teardown(async () => await m.stop())
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${m.child.pid}/status`, 'utf8'))?.[1]) * 1024
  const before = rss()
  let peak = before
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 60; i++) {
      const res = await request(`${m.url}/mem/${i}.bin`)
      const body = Buffer.from(await res.body.arrayBuffer())
      if (createHash('sha256').update(body).digest('hex') !== digests[i]) t.fail(`file ${i} corrupted`)
      peak = Math.max(peak, rss())
    }
  }
  t.comment(`after the 1 MiB files: peak growth ${((peak - before) / MiB).toFixed(1)} MiB`)
  const res = await request(`${m.url}/mem/big.bin`)
  const h = createHash('sha256')
  for await (const chunk of res.body) { h.update(chunk as Buffer); peak = Math.max(peak, rss()) }
  t.equal(h.digest('hex'), bigDigest, 'the 200 MiB file arrives intact')
  const growth = peak - before
  const metrics = await (await request(`${m.adminUrl}/metrics`)).body.text()
  const cached = Number(/^podside_fileproxy_cache_bytes (\d+)/m.exec(metrics)?.[1])
  t.comment(`fileproxy RSS: ${(before / MiB).toFixed(1)} MiB before, peak growth ${(growth / MiB).toFixed(1)} MiB; cache holds ${(cached / MiB).toFixed(2)} MiB of an 8 MiB bound`)
  t.ok(cached <= 8 * MiB, 'the cache\'s own accounting never passes --cache-size')
  // Evicted bodies are garbage until V8 collects; it forces a collection once external memory has
  // grown by its soft limit (64 MiB), whatever --cache-size is. Retaining the 60 MiB of files or
  // buffering the 200 MiB one would go past this.
  t.ok(growth < 8 * MiB + 64 * MiB, `growth ${(growth / MiB).toFixed(1)} MiB within the bound plus V8's external-memory slack`)
})
