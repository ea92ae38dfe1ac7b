import t, { type Test } from 'tap'
import http from 'node:http'
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { CacheStatus } from '../../fileproxy/cache-status.js'
import { createFileStore } from '../../fileproxy/file-store.js'
import { createHandler } from '../../fileproxy/handle.js'
import { createFileproxyMetrics } from '../../fileproxy/metrics.js'
import { realFs, type FsOps } from '../../fileproxy/open-file.js'
import { capturingLogger } from '../helpers/log.js'
import { serve } from '../helpers/processes.js'

/**
 * The request path with a volume that fails on demand: createFileStore + createHandler behind a
 * real HTTP server on a free port, real files on disk, the file store's fs calls behind a seam (an
 * NFS mount that answers EIO cannot be made on demand), and an injected clock.
 */
async function fixture (t: Test, staleIfErrorMs = 3_600_000) {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-handle-')))
  const root = join(base, 'root')
  mkdirSync(join(root, 'dir'), { recursive: true })
  t.teardown(() => { chmodSync(join(root, 'dir'), 0o755); rmSync(base, { recursive: true, force: true }) })
  let now = 1_800_000_000_000
  let failWith: string | undefined
  const fail = (): void => { if (failWith !== undefined) throw Object.assign(new Error('injected'), { code: failWith }) }
  const fs: FsOps = {
    realpath: async (p) => { fail(); return await realFs.realpath(p) },
    stat: async (p) => { fail(); return await realFs.stat(p) },
    open: async (p, flags) => { fail(); return await realFs.open(p, flags) }
  }
  const { log, lines } = capturingLogger()
  let files: ReturnType<typeof createFileStore> | undefined
  const metrics = createFileproxyMetrics(() => ({ bytes: files?.bytes ?? 0, entries: files?.entries ?? 0 }))
  files = createFileStore({ root, cacheSize: 1024 * 1024, maxObjectSize: 64 * 1024, revalidateMs: 60_000, staleIfErrorMs, compress: true, compressMinBytes: 256, compressLevels: { brotliQuality: 5, gzipLevel: 6 }, entryOverheadBytes: 512, hashMemoEntries: 10, metrics, clock: () => now, fs, log })
  const handle = createHandler({ files, log, metrics, hashParam: 'v', retryAfterSeconds: 60 })
  const server = await serve(http.createServer((req, res) => { void handle(req, res) }))
  t.teardown(server.close)
  return {
    root, lines, metrics,
    write: (rel: string, data: string) => writeFileSync(join(root, rel), data),
    advance: (ms: number) => { now += ms },
    failWith: (code: string | undefined) => { failWith = code },
    get: async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
      const res = await request(server.url + path, { method: method as 'GET', headers })
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
    },
    staleServed: async () => (await metrics.staleServed.get()).values[0]?.value ?? 0
  }
}

t.test('a failing volume: the cached copy is served stale (Cache-Status, metric, log source), then 503 past the window', async (t) => {
  const f = await fixture(t, 120_000)
  f.write('a.txt', 'cached bytes')
  const first = await f.get('/a.txt')
  t.same([first.status, first.headers['cache-status']], [200, CacheStatus.stored])
  for (const code of ['EIO', 'EACCES']) {
    f.failWith(code)
    f.advance(60_000)
    const stale = await f.get('/a.txt')
    t.same([stale.status, stale.text, stale.headers['cache-status']], [200, 'cached bytes', 'podside; hit; detail=stale'], `${code}: served stale`)
    const etag = stale.headers.etag as string
    const revalidated = await f.get('/a.txt', { 'if-none-match': etag })
    t.same([revalidated.status, revalidated.headers['cache-status']], [304, CacheStatus.stale], `${code}: a 304 from the stale copy says so too`)
    f.failWith(undefined)
    f.advance(60_000)
    t.equal((await f.get('/a.txt')).headers['cache-status'], CacheStatus.hit, 'the volume is back: a hit')
  }
  t.equal(await f.staleServed(), 4)
  t.ok(f.lines.some((l) => l.source === 'stale'), 'the access log says stale')
  const warned = f.lines.filter((l) => l.msg === 'the volume failed: the cached copy is served stale (--stale-if-error)')
  t.equal(warned.length, 2, 'one warning per failure (EIO, then EACCES), not one per stale answer')
  t.match(warned[0], { level: 40, path: '/a.txt', err: { code: 'FP_ERR_READ' } })
  f.failWith('EIO')
  f.advance(60_000)
  t.equal((await f.get('/a.txt')).status, 200)
  f.advance(60_001)
  const gone = await f.get('/a.txt')
  t.same([gone.status, JSON.parse(gone.text).error.code, gone.headers['retry-after'], gone.headers['cache-status']],
    [503, 'FP_ERR_VOLUME_UNAVAILABLE', '60', CacheStatus.volumeError], 'past --stale-if-error: 503 with Retry-After')
})

t.test('a deleted file is never served stale: 404, and ENOENT from the volume likewise', async (t) => {
  const f = await fixture(t)
  f.write('gone.txt', 'x')
  f.write('enoent.txt', 'y')
  await f.get('/gone.txt')
  await f.get('/enoent.txt')
  unlinkSync(join(f.root, 'gone.txt'))
  f.advance(60_000)
  const gone = await f.get('/gone.txt')
  t.same([gone.status, gone.headers['cache-status']], [404, CacheStatus.notStored])
  f.failWith('ENOENT')
  t.equal((await f.get('/enoent.txt')).status, 404)
  t.equal(await f.staleServed(), 0)
})

t.test('a real file system: a cached file whose directory is made unreadable (chmod 000) is served stale', async (t) => {
  const f = await fixture(t)
  f.write('dir/locked.txt', 'locked bytes')
  await f.get('/dir/locked.txt')
  chmodSync(join(f.root, 'dir'), 0o000)
  f.advance(60_000)
  const res = await f.get('/dir/locked.txt')
  t.equal(res.text, 'locked bytes')
  if (process.getuid?.() === 0) {
    // root reads through mode 000: nothing fails here, so the seam tests above prove EACCES.
    t.equal(res.headers['cache-status'], CacheStatus.hit, 'running as root: chmod denies nothing (the seam covers EACCES)')
  } else {
    t.equal(res.headers['cache-status'], CacheStatus.stale)
  }
})

t.test('Cache-Status on answers that never reach the cache: fwd=bypass', async (t) => {
  const f = await fixture(t)
  const post = await f.get('/a.txt', {}, 'POST')
  t.same([post.status, post.headers['cache-status']], [405, CacheStatus.bypass])
  const bad = await f.get('/bad%00.txt')
  t.same([bad.status, bad.headers['cache-status']], [400, CacheStatus.bypass])
})
