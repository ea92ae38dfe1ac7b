import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFileStore, type FileStoreOptions } from '../../fileproxy/file-store.js'
import { createFileproxyMetrics } from '../../fileproxy/metrics.js'

const KiB = 1024

function fixture (t: Test, overrides: Partial<FileStoreOptions> = {}) {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-files-')))
  const root = join(base, 'root')
  mkdirSync(join(root, 'avatars'), { recursive: true })
  writeFileSync(join(base, 'outside.txt'), 'secret outside the root')
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  let now = 1_800_000_000_000
  let files: ReturnType<typeof createFileStore> | undefined
  const metrics = createFileproxyMetrics(() => ({ bytes: files?.bytes ?? 0, entries: files?.entries ?? 0 }))
  files = createFileStore({ root, cacheSize: 1024 * KiB, maxObjectSize: 256 * KiB, revalidateMs: 60_000, staleIfErrorMs: 3_600_000, compress: false, compressMinBytes: 256, compressLevels: { brotliQuality: 5, gzipLevel: 6 }, entryOverheadBytes: 512, hashMemoEntries: 100, metrics, clock: () => now, ...overrides })
  const count = async (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> => (await c.get()).values[0]?.value ?? 0
  return {
    base, root, files, metrics,
    write: (rel: string, data: string | Buffer) => writeFileSync(join(root, rel), data),
    advance: (ms: number) => { now += ms },
    diskReads: async () => await count(metrics.diskReads),
    evictions: async () => await count(metrics.evictions)
  }
}
const errCode = async (p: Promise<unknown>): Promise<string | undefined> => { try { await p; return undefined } catch (err) { return (err as { code: string }).code } }

t.test('concurrent misses for one file read it from disk once', async (t) => {
  const f = fixture(t)
  f.write('avatars/1.png', 'one')
  const hits = await Promise.all(Array.from({ length: 20 }, async () => await f.files.get('/avatars/1.png')))
  t.ok(hits.every((h) => h.kind === 'memory' && h.body.toString() === 'one'))
  t.equal(await f.diskReads(), 1)
  await f.files.get('/avatars/1.png')
  t.equal(await f.diskReads(), 1, 'then served from memory')
})

t.test('a purge that arrives during a load wins: those bytes are not cached', async (t) => {
  const f = fixture(t)
  f.write('a.txt', 'old')
  const loading = f.files.get('/a.txt')
  t.equal(f.files.purge({ paths: ['/a.txt'], prefixes: [], all: false }), 0)
  f.write('a.txt', 'new')
  await loading
  t.equal(f.files.entries, 0, 'the load in flight was not cached')
  const after = await f.files.get('/a.txt')
  t.equal(after.kind === 'memory' && after.body.toString(), 'new')
})

t.test('the cache stays within --cache-size, bookkeeping included, evicting the least recent', async (t) => {
  const f = fixture(t)
  for (let i = 0; i < 10; i++) f.write(`f${i}.bin`, Buffer.alloc(200 * KiB, i))
  for (let i = 0; i < 10; i++) await f.files.get(`/f${i}.bin`)
  t.ok(f.files.bytes <= 1024 * KiB, `${f.files.bytes} bytes cached`)
  t.equal(f.files.entries, 5)
  t.equal(await f.evictions(), 5)
  const reads = await f.diskReads()
  await f.files.get('/f9.bin')
  t.equal(await f.diskReads(), reads, 'the most recent is still cached')
  await f.files.get('/f0.bin')
  t.equal(await f.diskReads(), reads + 1, 'the oldest was evicted')
})

t.test('files above --max-object-size stream from disk, with their hash computed once per version', async (t) => {
  const f = fixture(t)
  f.write('big.bin', Buffer.alloc(300 * KiB, 7))
  const first = await f.files.get('/big.bin')
  const second = await f.files.get('/big.bin')
  for (const hit of [first, second]) if (hit.kind === 'disk') hit.file.release()
  t.equal(first.kind, 'disk')
  t.equal(f.files.entries, 0, 'never cached')
  t.equal(second.meta.hash, first.meta.hash)
  t.equal(await f.diskReads(), 1, 'hashed once')
  f.write('big.bin', Buffer.alloc(300 * KiB, 8))
  utimesSync(join(f.root, 'big.bin'), new Date(), new Date(Date.now() + 5000))
  const third = await f.files.get('/big.bin')
  if (third.kind === 'disk') third.file.release()
  t.not(third.meta.hash, first.meta.hash, 'a new version gets a new hash')
})

t.test('concurrent getters of a large file share its open handle; the last release closes it', async (t) => {
  const f = fixture(t)
  f.write('big.bin', Buffer.alloc(300 * KiB, 7))
  const hits = await Promise.all([1, 2, 3].map(async () => await f.files.get('/big.bin')))
  const files = hits.map((h) => h.kind === 'disk' ? h.file : undefined)
  t.ok(files[0] !== undefined && files.every((file) => file === files[0]), 'one open file for the three')
  const file = files[0]!
  file.release()
  file.release()
  t.equal((await file.fh.stat()).size, 300 * KiB, 'still open while one holder is left')
  file.release()
  const deadline = Date.now() + 5000
  while (file.fh.fd !== -1 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  t.equal(file.fh.fd, -1, 'closed after the last release')
})

t.test('--revalidate: a changed file is noticed only after the interval (stat, not a read)', async (t) => {
  const f = fixture(t)
  f.write('r.txt', 'v1')
  await f.files.get('/r.txt')
  f.write('r.txt', 'v2-longer')
  f.advance(59_000)
  const stale = await f.files.get('/r.txt')
  t.equal(stale.kind === 'memory' && stale.body.toString(), 'v1')
  f.advance(1_000)
  const fresh = await f.files.get('/r.txt')
  t.equal(fresh.kind === 'memory' && fresh.body.toString(), 'v2-longer')
})

t.test('--revalidate 0: only purges refresh an entry', async (t) => {
  const f = fixture(t, { revalidateMs: 0 })
  f.write('r.txt', 'v1')
  await f.files.get('/r.txt')
  f.write('r.txt', 'v2-longer')
  f.advance(365 * 24 * 3600_000)
  const stale = await f.files.get('/r.txt')
  t.equal(stale.kind === 'memory' && stale.body.toString(), 'v1')
  f.files.purge({ paths: [], prefixes: ['/'], all: false })
  const fresh = await f.files.get('/r.txt')
  t.equal(fresh.kind === 'memory' && fresh.body.toString(), 'v2-longer')
})

t.test('symlinks that leave the root are refused, also after the file was cached', async (t) => {
  const f = fixture(t)
  symlinkSync(join(f.base, 'outside.txt'), join(f.root, 'escape.txt'))
  t.equal(await errCode(f.files.get('/escape.txt')), 'FP_ERR_FORBIDDEN')
  f.write('inside.txt', 'inside')
  symlinkSync(join(f.root, 'inside.txt'), join(f.root, 'link.txt'))
  const ok = await f.files.get('/link.txt')
  t.equal(ok.kind === 'memory' && ok.body.toString(), 'inside', 'a symlink within the root is fine')
  unlinkSync(join(f.root, 'link.txt'))
  symlinkSync(join(f.base, 'outside.txt'), join(f.root, 'link.txt'))
  f.advance(60_000)
  t.equal(await errCode(f.files.get('/link.txt')), 'FP_ERR_FORBIDDEN', 'retargeted outside after caching')
  symlinkSync(join(f.base), join(f.root, 'dir-escape'))
  t.equal(await errCode(f.files.get('/dir-escape/outside.txt')), 'FP_ERR_FORBIDDEN')
})

t.test('missing files and directories are not found; errors never name file-system paths', async (t) => {
  const f = fixture(t)
  for (const key of ['/nope.png', '/avatars', '/avatars/nope/x.png']) {
    try { await f.files.get(key); t.fail(key) } catch (err) {
      t.equal((err as { code: string }).code, 'FP_ERR_NOT_FOUND', key)
      t.notMatch((err as Error).message, f.base)
    }
  }
})

t.test('purge by prefix and all', async (t) => {
  const f = fixture(t)
  for (const n of ['avatars/1.png', 'avatars/2.png', 'other.png']) { f.write(n, n); await f.files.get('/' + n) }
  t.equal(f.files.purge({ paths: [], prefixes: ['/avatars/'], all: false }), 2)
  t.equal(f.files.entries, 1)
  t.equal(f.files.purge({ paths: [], prefixes: [], all: true }), 1)
  t.equal(f.files.entries, 0)
})

t.test('peek answers a cached file at once; a miss, a purged file or one due for a re-check is left to get', async (t) => {
  const f = fixture(t)
  f.write('a.txt', 'one')
  t.equal(f.files.peek('/a.txt'), undefined, 'not loaded yet')
  await f.files.get('/a.txt')
  t.match(f.files.peek('/a.txt'), { kind: 'memory', cached: true, body: Buffer.from('one') })
  f.advance(60_000)
  t.equal(f.files.peek('/a.txt'), undefined, 'due for a re-check: get re-checks it')
  await f.files.get('/a.txt')
  t.match(f.files.peek('/a.txt'), { kind: 'memory' }, 're-checked: memory answers again')
  f.files.purge({ all: false, paths: ['/a.txt'], prefixes: [] })
  t.equal(f.files.peek('/a.txt'), undefined, 'purged')
})
