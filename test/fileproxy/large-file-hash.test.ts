import { createHash } from 'node:crypto'
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { digest } from '../../fileproxy/file-meta.js'
import { createLargeFileHashes } from '../../fileproxy/large-file-hash.js'
import { createFileproxyMetrics } from '../../fileproxy/metrics.js'
import { createOpener } from '../../fileproxy/open-file.js'

const root = realpathSync(mkdtempSync(join(tmpdir(), 'podside-lfh-')))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
const opener = createOpener(root)
const reads = async (m: ReturnType<typeof createFileproxyMetrics>): Promise<number> => (await m.diskReads.get()).values[0]?.value ?? 0
const sha = (b: Buffer): string => digest(createHash('sha256').update(b))

t.test('each version of a file is read for hashing once; a new version is read again', async (t) => {
  const metrics = createFileproxyMetrics(() => ({ bytes: 0, entries: 0 }))
  const hashes = createLargeFileHashes(10, metrics)
  writeFileSync(join(root, 'a.bin'), Buffer.alloc(70_000, 1))
  for (let i = 0; i < 3; i++) {
    const file = await opener.openFile('/a.bin')
    t.equal(await hashes.of('/a.bin', file, () => false), sha(Buffer.alloc(70_000, 1)))
    file.release()
  }
  t.equal(await reads(metrics), 1, 'read once for three requests')
  writeFileSync(join(root, 'a.bin'), Buffer.alloc(80_000, 2))
  const file = await opener.openFile('/a.bin')
  t.equal(await hashes.of('/a.bin', file, () => false), sha(Buffer.alloc(80_000, 2)))
  file.release()
  t.equal(await reads(metrics), 2)
})

t.test('a hash taken while a purge arrived is used once and not remembered; delete, dropUnder and clear forget', async (t) => {
  const metrics = createFileproxyMetrics(() => ({ bytes: 0, entries: 0 }))
  const hashes = createLargeFileHashes(10, metrics)
  writeFileSync(join(root, 'b.bin'), Buffer.alloc(1000, 3))
  const hashTwice = async (purged: boolean, forget?: () => void): Promise<void> => {
    for (let i = 0; i < 2; i++) {
      const file = await opener.openFile('/b.bin')
      await hashes.of('/b.bin', file, () => purged)
      file.release()
      if (i === 0) forget?.()
    }
  }
  await hashTwice(true)
  t.equal(await reads(metrics), 2, 'purged: read each time')
  await hashTwice(false, () => hashes.delete('/b.bin'))
  t.equal(await reads(metrics), 4, 'delete forgets')
  await hashTwice(false, () => hashes.dropUnder((k) => k.startsWith('/b')))
  t.equal(await reads(metrics), 5, 'dropUnder forgets what the prefix covers (the first of the two was remembered)')
  await hashTwice(false, () => hashes.clear())
  t.equal(await reads(metrics), 6, 'clear forgets everything')
  await hashTwice(false, () => hashes.dropUnder((k) => k.startsWith('/other')))
  t.equal(await reads(metrics), 6, 'another prefix keeps it')
})
