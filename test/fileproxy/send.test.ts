import t, { type Test } from 'tap'
import http from 'node:http'
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import type { Plan } from '../../fileproxy/conditional.js'
import { createFileStore, type FileHit } from '../../fileproxy/file-store.js'
import { createFileproxyMetrics } from '../../fileproxy/metrics.js'
import { IMMUTABLE, REVALIDATE, sendFile } from '../../fileproxy/send.js'
import { serve } from '../helpers/processes.js'

/**
 * sendFile on its own: a real server on a free port answers each request with the hit and plan the
 * test hands it, for a file read by a real file store (small files from memory, large ones
 * streamed from the open handle), and the test reads the answer as a client would.
 */
const KiB = 1024
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-send-')))
t.teardown(() => rmSync(base, { recursive: true, force: true }))
const small = 'hello, world'
const large = Buffer.alloc(100 * KiB, 'L')
large.write('first', 0)
large.write('last!', large.length - 5)
writeFileSync(join(base, 'small.txt'), small)
writeFileSync(join(base, 'large.bin'), large)
writeFileSync(join(base, 'empty.txt'), '')
let files: ReturnType<typeof createFileStore> | undefined
const metrics = createFileproxyMetrics(() => ({ bytes: files?.bytes ?? 0, entries: files?.entries ?? 0 }))
files = createFileStore({ root: base, cacheSize: 1024 * KiB, maxObjectSize: 16 * KiB, revalidateMs: 60_000, staleIfErrorMs: 0, compress: false, compressMinBytes: 256, compressLevels: { brotliQuality: 5, gzipLevel: 6 }, entryOverheadBytes: 512, hashMemoEntries: 10, metrics })
const store = files

let next: { hit: FileHit, plan: Plan, cacheControl: string } | undefined
const server = await serve(http.createServer((req, res) => {
  const { hit, plan, cacheControl } = next as NonNullable<typeof next>
  const streaming = sendFile(res, req.method ?? 'GET', hit, plan, cacheControl)
  void (streaming ?? Promise.resolve()).finally(() => { if (hit.kind === 'disk') hit.file.release() })
}))
t.teardown(async () => await server.close())

async function answer (t: Test, key: string, plan: Plan, method = 'GET', cacheControl = REVALIDATE) {
  const hit = await store.get(key)
  next = { hit, plan, cacheControl }
  const res = await request(server.url + key, { method: method as 'GET' })
  const body = Buffer.from(await res.body.arrayBuffer())
  t.comment(`${method} ${key} ${plan.status} (${hit.kind}) → ${res.statusCode}`)
  return { status: res.statusCode, headers: res.headers, body, hit }
}

t.test('a 200 from memory: the whole body with validators, length, type and nosniff', async (t) => {
  const r = await answer(t, '/small.txt', { status: 200 }, 'GET', IMMUTABLE)
  t.equal(r.hit.kind, 'memory')
  t.equal(r.status, 200)
  t.equal(r.body.toString(), small)
  t.match(r.headers, {
    etag: r.hit.meta.etag,
    'last-modified': r.hit.meta.lastModified,
    'cache-control': 'public, max-age=31536000, immutable',
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(small.length),
    'accept-ranges': 'bytes',
    'x-content-type-options': 'nosniff'
  })
  t.equal(r.headers['content-range'], undefined)
})

t.test('a 206 from memory: the byte range and its Content-Range', async (t) => {
  const r = await answer(t, '/small.txt', { status: 206, start: 7, end: 11 })
  t.equal(r.status, 206)
  t.equal(r.body.toString(), 'world')
  t.equal(r.headers['content-range'], `bytes 7-11/${small.length}`)
  t.equal(r.headers['content-length'], '5')
})

t.test('a file above --max-object-size is streamed from its open handle, whole or a range', async (t) => {
  const whole = await answer(t, '/large.bin', { status: 200 })
  t.equal(whole.hit.kind, 'disk')
  t.equal(whole.status, 200)
  t.ok(whole.body.equals(large), 'every byte')
  t.equal(whole.headers['content-type'], 'application/octet-stream')
  const tail = await answer(t, '/large.bin', { status: 206, start: large.length - 5, end: large.length - 1 })
  t.equal(tail.status, 206)
  t.equal(tail.body.toString(), 'last!')
  t.equal(tail.headers['content-range'], `bytes ${large.length - 5}-${large.length - 1}/${large.length}`)
})

t.test('HEAD: the same head as GET, no body, from memory or disk', async (t) => {
  for (const key of ['/small.txt', '/large.bin']) {
    const r = await answer(t, key, { status: 200 }, 'HEAD')
    t.equal(r.status, 200, key)
    t.equal(r.headers['content-length'], String(r.hit.meta.size), key)
    t.equal(r.body.length, 0, key)
  }
})

t.test('an empty file: 200 with Content-Length 0', async (t) => {
  const r = await answer(t, '/empty.txt', { status: 200 })
  t.same([r.status, r.headers['content-length'], r.body.length], [200, '0', 0])
})

t.test('304: validators and Cache-Control only, no body or content headers', async (t) => {
  const r = await answer(t, '/small.txt', { status: 304 }, 'GET', IMMUTABLE)
  t.equal(r.status, 304)
  t.same({ etag: r.headers.etag, lm: r.headers['last-modified'], cc: r.headers['cache-control'] },
    { etag: r.hit.meta.etag, lm: r.hit.meta.lastModified, cc: IMMUTABLE })
  t.equal(r.headers['content-type'], undefined)
  t.equal(r.body.length, 0)
})

t.test('412 and 416 are JSON errors with their stable codes; 416 names the size', async (t) => {
  const p = await answer(t, '/small.txt', { status: 412 })
  t.equal(p.status, 412)
  t.same(JSON.parse(p.body.toString()), { error: { code: 'FP_ERR_PRECONDITION_FAILED', message: 'Precondition Failed' } })
  const r = await answer(t, '/large.bin', { status: 416 })
  t.equal(r.status, 416)
  t.equal(r.headers['content-range'], `bytes */${large.length}`)
  t.equal(JSON.parse(r.body.toString()).error.code, 'FP_ERR_RANGE_NOT_SATISFIABLE')
  t.equal(r.headers.etag, undefined, 'an error carries no validator of the file')
})

t.test('the two Cache-Control values', async (t) => {
  t.equal(IMMUTABLE, 'public, max-age=31536000, immutable')
  t.equal(REVALIDATE, 'public, max-age=0, must-revalidate')
})
