import t from 'tap'
import { randomBytes } from 'node:crypto'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { contentType } from 'mime-types'
import { compressVariants, createCompressor, isCompressible } from '../../fileproxy/compress.js'
import type { FileMeta } from '../../fileproxy/file-store.js'

const meta = (size: number): FileMeta => ({ key: '/a.json', size, mtimeMs: 0, hash: 'h'.repeat(22), contentType: 'application/json', etag: `"${'h'.repeat(22)}"`, lastModified: 'x', varies: true })
const levels = { brotliQuality: 5, gzipLevel: 6 }

t.test('compressible types: text, JSON, JS, CSS, XML, SVG, by the type mime-types gives an extension', async (t) => {
  for (const ext of ['.txt', '.html', '.css', '.js', '.mjs', '.json', '.map', '.webmanifest', '.xml', '.svg', '.csv', '.md']) {
    t.ok(isCompressible(contentType(ext) as string), ext)
  }
  for (const ext of ['.png', '.jpg', '.webp', '.woff2', '.gz', '.zip', '.mp4', '.pdf', '.wasm', '.bin']) {
    t.notOk(isCompressible(contentType(ext) || 'application/octet-stream'), ext)
  }
  t.ok(isCompressible('Application/JSON'), 'case-insensitive')
  t.ok(isCompressible('application/problem+json; charset=utf-8'))
})

t.test('the variants decompress to the body, carry their own ETag and size, and keep the rest of the meta', async (t) => {
  const body = Buffer.from(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `user ${i}` }))))
  const v = await compressVariants(body, meta(body.length), levels)
  t.ok(v.br !== undefined && v.gzip !== undefined)
  t.same(brotliDecompressSync(v.br!.body), body)
  t.same(gunzipSync(v.gzip!.body), body)
  t.equal(v.br!.meta.etag, `"${'h'.repeat(22)}-br"`)
  t.equal(v.gzip!.meta.etag, `"${'h'.repeat(22)}-gzip"`)
  t.equal(v.br!.meta.size, v.br!.body.length)
  t.equal(v.br!.meta.hash, 'h'.repeat(22), 'the hash (and so the immutable rule) is the file\'s')
  t.ok(v.br!.body.length < v.gzip!.body.length, `br ${v.br!.body.length} < gzip ${v.gzip!.body.length} < ${body.length}`)
})

t.test('a variant that is not smaller than the body is not kept', async (t) => {
  const noise = randomBytes(4096)
  const v = await compressVariants(noise, meta(noise.length), levels)
  t.equal(v.br, undefined)
  t.equal(v.gzip, undefined)
})

t.test('the compressor runs at most `concurrency` jobs at once, the rest in order, each getting its own result', async (t) => {
  let running = 0
  let most = 0
  const started: number[] = []
  const release: Array<() => void> = []
  const run = async (body: Buffer): Promise<{}> => {
    running++
    most = Math.max(most, running)
    started.push(body[0])
    await new Promise<void>((resolve) => release.push(resolve))
    running--
    return { br: undefined, gzip: undefined, n: body[0] }
  }
  const compress = createCompressor(levels, 2, run as never)
  const jobs = [0, 1, 2, 3, 4].map(async (n) => await compress(Buffer.from([n]), meta(1)))
  while (release.length > 0 || started.length < 5) {
    await new Promise((resolve) => setImmediate(resolve))
    release.shift()?.()
  }
  const results = await Promise.all(jobs)
  t.equal(most, 2, 'never more than two at once')
  t.same(started, [0, 1, 2, 3, 4], 'in the order asked')
  t.same(results.map((r) => (r as unknown as { n: number }).n), [0, 1, 2, 3, 4])
  const real = createCompressor(levels, 1)
  const body = Buffer.from('abc '.repeat(200))
  t.same(gunzipSync((await real(body, meta(body.length))).gzip!.body), body, 'by default, zlib')
})
