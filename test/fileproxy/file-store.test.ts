import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CacheStatus } from '../../fileproxy/cache-status.js'
import type { Variants } from '../../fileproxy/compress.js'
import { createFileStore, type FileHit, type FileStoreOptions } from '../../fileproxy/file-store.js'
import { realFs, type FsOps } from '../../fileproxy/open-file.js'
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
const count = async (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> => (await c.get()).values[0]?.value ?? 0
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
  t.match(f.files.peek('/a.txt'), { kind: 'memory', status: CacheStatus.hit, body: Buffer.from('one') })
  f.advance(60_000)
  t.equal(f.files.peek('/a.txt'), undefined, 'due for a re-check: get re-checks it')
  await f.files.get('/a.txt')
  t.match(f.files.peek('/a.txt'), { kind: 'memory' }, 're-checked: memory answers again')
  f.files.purge({ all: false, paths: ['/a.txt'], prefixes: [] })
  t.equal(f.files.peek('/a.txt'), undefined, 'purged')
})

/** The volume's path calls, made to fail on demand: what an NFS mount that went away does. */
function failingFs () {
  const state: { code: string | undefined, ops: Set<keyof FsOps> } = { code: undefined, ops: new Set(['realpath', 'stat', 'open']) }
  const fail = (op: keyof FsOps): void => {
    if (state.code !== undefined && state.ops.has(op)) throw Object.assign(new Error(`${state.code}: injected`), { code: state.code })
  }
  const fs: FsOps = {
    realpath: async (p) => { fail('realpath'); return await realFs.realpath(p) },
    stat: async (p) => { fail('stat'); return await realFs.stat(p) },
    open: async (p, flags) => { fail('open'); return await realFs.open(p, flags) }
  }
  return { fs, state }
}
const statusOf = (hit: FileHit): string => hit.status
const textOf = (hit: FileHit): string | false => hit.kind === 'memory' && hit.body.toString()

t.test('Cache-Status of each path through the store: miss stored, hit, refreshed, not stored, too large', async (t) => {
  const f = fixture(t)
  f.write('a.txt', 'one')
  t.equal(statusOf(await f.files.get('/a.txt')), CacheStatus.stored)
  t.equal(statusOf(await f.files.get('/a.txt')), CacheStatus.hit)
  f.advance(60_000)
  t.equal(statusOf(await f.files.get('/a.txt')), CacheStatus.hit, 'a re-check that found it unchanged is a hit')
  f.write('a.txt', 'two, longer')
  f.advance(60_000)
  const refreshed = await f.files.get('/a.txt')
  t.same([statusOf(refreshed), textOf(refreshed)], [CacheStatus.refreshed, 'two, longer'], 'changed: loaded again, fwd=stale; stored')
  f.write('b.txt', 'b')
  const loading = f.files.get('/b.txt')
  f.files.purge({ paths: ['/b.txt'], prefixes: [], all: false })
  t.equal(statusOf(await loading), CacheStatus.notStored, 'a purge during the load: served, not stored')
  f.write('big.bin', Buffer.alloc(300 * KiB))
  const hooked = failingFs()
  const g = fixture(t, { fs: hooked.fs })
  g.write('c.txt', 'c1')
  await g.files.get('/c.txt')
  g.write('c.txt', 'c2 longer')
  g.advance(60_000)
  const realOpen = hooked.fs.open
  hooked.fs.open = async (p, flags) => { g.files.purge({ paths: ['/c.txt'], prefixes: [], all: false }); return await realOpen(p, flags) }
  const racing = await g.files.get('/c.txt')
  t.same([statusOf(racing), textOf(racing)], [CacheStatus.refreshedNotStored, 'c2 longer'], 'changed, and a purge during the re-read: served, not stored')
  t.equal(g.files.entries, 0, 'neither the old copy nor the new one is kept')
  const big = await f.files.get('/big.bin')
  if (big.kind === 'disk') big.file.release()
  t.equal(statusOf(big), CacheStatus.tooLarge)
})

t.test('--stale-if-error: EIO and EACCES from the volume (seam) serve the cached copy, marked stale and counted', async (t) => {
  for (const code of ['EIO', 'EACCES', 'ESTALE', 'ETIMEDOUT']) {
    const { fs, state } = failingFs()
    const f = fixture(t, { fs, staleIfErrorMs: 3_600_000 })
    f.write('a.txt', 'cached')
    await f.files.get('/a.txt')
    state.code = code
    f.advance(60_000)
    const stale = await f.files.get('/a.txt')
    t.same([statusOf(stale), textOf(stale)], [CacheStatus.stale, 'cached'], `${code}: the re-check failed, the copy is served stale`)
    const peeked = f.files.peek('/a.txt')
    t.equal(peeked !== undefined && statusOf(peeked), CacheStatus.stale, `${code}: until the next re-check, memory answers stale at once`)
    t.equal(await count(f.metrics.staleServed), 2, `${code}: counted`)
  }
})

t.test('--stale-if-error: the window runs from the last good check; past it, 503 until the volume is back', async (t) => {
  const { fs, state } = failingFs()
  const f = fixture(t, { fs, staleIfErrorMs: 120_000 })
  f.write('a.txt', 'cached')
  await f.files.get('/a.txt')
  f.advance(60_000)
  await f.files.get('/a.txt') // a good re-check at +60 s: the window starts here
  state.code = 'EIO'
  f.advance(60_000)
  t.equal(statusOf(await f.files.get('/a.txt')), CacheStatus.stale, 'failing at +120 s (60 s after the last good check)')
  f.advance(60_000)
  t.equal(statusOf(await f.files.get('/a.txt')), CacheStatus.stale, 'at +180 s: 120 s after the last good check, still within')
  f.advance(1)
  t.equal(f.files.peek('/a.txt'), undefined, 'past the window memory does not answer')
  t.equal(await errCode(f.files.get('/a.txt')), 'FP_ERR_VOLUME_UNAVAILABLE', 'past the window: 503')
  t.equal(await errCode(f.files.get('/a.txt')), 'FP_ERR_VOLUME_UNAVAILABLE', 'and again, without asking the volume before --revalidate has passed')
  state.code = undefined
  t.equal(await errCode(f.files.get('/a.txt')), 'FP_ERR_VOLUME_UNAVAILABLE', 'the volume is back, but it is not asked before the next re-check')
  f.advance(60_000)
  t.same([statusOf(await f.files.get('/a.txt')), textOf(await f.files.get('/a.txt'))], [CacheStatus.hit, 'cached'], 'the next re-check succeeds: a hit again')
  t.equal(statusOf(f.files.peek('/a.txt')!), CacheStatus.hit)
})

t.test('--stale-if-error: a file that changed but cannot be read again is served stale (re-read fails)', async (t) => {
  const { fs, state } = failingFs()
  const f = fixture(t, { fs })
  f.write('a.txt', 'v1')
  await f.files.get('/a.txt')
  f.write('a.txt', 'v2 longer')
  state.ops = new Set(['open'])
  state.code = 'EIO'
  f.advance(60_000)
  const stale = await f.files.get('/a.txt')
  t.same([statusOf(stale), textOf(stale)], [CacheStatus.stale, 'v1'])
  state.code = undefined
  f.advance(60_000)
  const fresh = await f.files.get('/a.txt')
  t.same([statusOf(fresh), textOf(fresh)], [CacheStatus.refreshed, 'v2 longer'], 'once the volume reads again, the new bytes')
})

t.test('--stale-if-error: ENOENT is never served stale, nor a path that now leaves the root, nor with 0', async (t) => {
  const { fs, state } = failingFs()
  const f = fixture(t, { fs })
  f.write('gone.txt', 'cached')
  await f.files.get('/gone.txt')
  unlinkSync(join(f.root, 'gone.txt'))
  f.advance(60_000)
  t.equal(await errCode(f.files.get('/gone.txt')), 'FP_ERR_NOT_FOUND', 'deleted: 404 at the next re-check')
  f.write('enoent.txt', 'cached')
  await f.files.get('/enoent.txt')
  state.code = 'ENOENT'
  f.advance(60_000)
  t.equal(await errCode(f.files.get('/enoent.txt')), 'FP_ERR_NOT_FOUND', 'ENOENT from the volume (seam): 404')
  t.equal(f.files.entries, 0, 'and dropped')
  t.equal(await count(f.metrics.staleServed), 0)

  const off = fixture(t, { fs, staleIfErrorMs: 0 })
  state.code = undefined
  off.write('a.txt', 'cached')
  await off.files.get('/a.txt')
  state.code = 'EIO'
  off.advance(60_000)
  t.equal(await errCode(off.files.get('/a.txt')), 'FP_ERR_READ', '--stale-if-error 0: the volume\'s error, as before')
  state.code = 'EACCES'
  off.write('b.txt', 'b')
  t.equal(await errCode(off.files.get('/b.txt')), 'FP_ERR_FORBIDDEN', 'a file never cached is not served stale: EACCES is 403')
})

t.test('--stale-if-error on a real file system: a cached file made unreadable is served stale', async (t) => {
  const f = fixture(t)
  f.write('avatars/locked.txt', 'cached')
  await f.files.get('/avatars/locked.txt')
  chmodSync(join(f.root, 'avatars'), 0o000)
  t.teardown(() => chmodSync(join(f.root, 'avatars'), 0o755))
  f.advance(60_000)
  const hit = await f.files.get('/avatars/locked.txt')
  if (process.getuid?.() === 0) {
    // root reads through mode 000 (CAP_DAC_OVERRIDE): the re-check succeeds, so this run proves only
    // that nothing breaks; the EACCES path is proven through the seam in the tests above.
    t.equal(statusOf(hit), CacheStatus.hit, 'running as root: chmod denies nothing, the seam tests cover EACCES')
  } else {
    t.same([statusOf(hit), textOf(hit)], [CacheStatus.stale, 'cached'], 'EACCES on the directory: served stale')
    t.equal(await count(f.metrics.staleServed), 1)
  }
})

t.test('compressed variants: made once per load after it, counted in the cache bound', async (t) => {
  const f = fixture(t, { compress: true })
  const json = Buffer.from(JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `user ${i}` }))))
  f.write('a.json', json)
  const first = await f.files.get('/a.json')
  t.ok(first.kind === 'memory' && first.variants.br === undefined, 'the load answers at once, identity')
  const before = f.files.bytes
  await f.files.compressed()
  const hit = await f.files.get('/a.json')
  if (hit.kind !== 'memory') throw new Error('expected memory')
  t.ok(hit.meta.varies, 'a compressible type varies')
  const extra = hit.variants.br!.body.length + hit.variants.gzip!.body.length
  t.equal(f.files.bytes, before + extra, 'the variants\' bytes are counted')
  t.equal(await f.diskReads(), 1, 'read once')
  f.write('a.png', json)
  const png = await f.files.get('/a.png')
  await f.files.compressed()
  t.ok(png.kind === 'memory' && !png.meta.varies && (await f.files.get('/a.png') as { variants: Variants }).variants.br === undefined, 'a PNG is never compressed')
  f.write('tiny.json', '{"a":1}')
  await f.files.get('/tiny.json')
  await f.files.compressed()
  t.equal((await f.files.get('/tiny.json') as { variants: Variants }).variants.gzip, undefined, 'under compressMinBytes: identity only')
})

t.test('compressed variants: filling the cache evicts by bytes including variants; a purge during compression wins', async (t) => {
  const f = fixture(t, { compress: true, cacheSize: 256 * KiB, maxObjectSize: 128 * KiB })
  // Random hex compresses to about half: body + br + gzip ≈ 2× the body.
  const text = (_i: number): Buffer => Buffer.from(randomBytes(20 * KiB).toString('hex'))
  for (let i = 0; i < 4; i++) { f.write(`t${i}.txt`, text(i)); await f.files.get(`/t${i}.txt`); await f.files.compressed() }
  const one = await f.files.get('/t3.txt') as { variants: Variants, body: Buffer }
  const perEntry = one.body.length + one.variants.br!.body.length + one.variants.gzip!.body.length
  t.ok(perEntry > 60 * KiB, `one entry holds ${perEntry} bytes with its variants`)
  t.ok(f.files.bytes <= 256 * KiB, `${f.files.bytes} bytes within the bound`)
  t.ok(f.files.entries < 4, `${f.files.entries} entries: without the variants all four 40 KiB bodies would fit`)
  t.ok(await f.evictions() > 0, 'evicted')
  f.write('p.txt', text(9))
  await f.files.get('/p.txt')
  f.files.purge({ paths: ['/p.txt'], prefixes: [], all: false })
  await f.files.compressed()
  t.equal(f.files.peek('/p.txt'), undefined, 'the variants of a purged entry are not attached (nor the entry brought back)')
})

t.test('--compress false: nothing varies, no variants', async (t) => {
  const f = fixture(t, { compress: false })
  f.write('a.json', JSON.stringify(Array.from({ length: 500 }, (_, i) => i)))
  const hit = await f.files.get('/a.json')
  await f.files.compressed()
  t.ok(hit.kind === 'memory' && !hit.meta.varies && hit.variants.br === undefined && hit.variants.gzip === undefined)
})
