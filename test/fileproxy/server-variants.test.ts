import t from 'tap'
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { request } from 'undici'
import { runCli } from '../helpers/cli.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'

/**
 * Issue 18 with real `podside fileproxy` processes over real files: Cache-Status on every answer,
 * compressed variants chosen by Accept-Encoding with their own ETags, ranges and Vary, and
 * --compress false. (A failing volume is tested in handle.test.ts, through the file store's seam.)
 */
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-fpv-')))
t.teardown(() => rmSync(base, { recursive: true, force: true }))
const json = Buffer.from(JSON.stringify(Array.from({ length: 1500 }, (_, i) => ({ id: i, name: `user ${i}`, active: i % 3 === 0 }))))
writeFileSync(join(base, 'data.json'), json)
writeFileSync(join(base, 'plain.txt'), 'a short text file, too small to be worth compressing')
writeFileSync(join(base, 'image.png'), json) // compressible bytes, but a PNG by its type
writeFileSync(join(base, 'big.json'), Buffer.concat([json, json, json, json]))
const fp = await startDaemon('fileproxy', ['--root', base, '--max-object-size', '128KiB', '--revalidate', '0'])
t.teardown(async () => await fp.stop())

async function get (d: Daemon, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(d.url + path, { method: method as 'GET', headers })
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
}
const metric = async (d: Daemon, name: string): Promise<number> => {
  const text = await (await request(d.adminUrl + '/metrics')).body.text()
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1])
}
const BR = { 'accept-encoding': 'br, gzip' }

t.test('Cache-Status: miss stored, then hit; too large; 304; HEAD; 416; 404; 405', async (t) => {
  t.equal((await get(fp, '/plain.txt')).headers['cache-status'], 'podside; fwd=miss; stored')
  const hit = await get(fp, '/plain.txt')
  t.equal(hit.headers['cache-status'], 'podside; hit')
  t.equal((await get(fp, '/plain.txt', { 'if-none-match': hit.headers.etag as string })).headers['cache-status'], 'podside; hit', '304')
  t.equal((await get(fp, '/plain.txt', {}, 'HEAD')).headers['cache-status'], 'podside; hit', 'HEAD')
  const beyond = await get(fp, '/plain.txt', { range: 'bytes=999-' })
  t.same([beyond.status, beyond.headers['cache-status']], [416, 'podside; hit'])
  const big = await get(fp, '/big.json', BR)
  t.same([big.status, big.headers['cache-status'], big.headers['content-encoding']], [200, 'podside; fwd=miss; detail=too-large', undefined], 'streamed, and sent identity')
  t.equal(big.headers.vary, 'Accept-Encoding', 'a compressible type varies even when streamed')
  t.equal((await get(fp, '/nope.txt')).headers['cache-status'], 'podside; fwd=miss')
  t.equal((await get(fp, '/plain.txt', {}, 'DELETE')).headers['cache-status'], 'podside; fwd=bypass')
})

t.test('compressed variants: identity until they are made, then br/gzip by Accept-Encoding, each with its ETag', async (t) => {
  const first = await get(fp, '/data.json', BR)
  t.same([first.headers['content-encoding'], first.headers.vary], [undefined, 'Accept-Encoding'], 'the load itself answers identity, with Vary')
  t.same(first.body, json)
  const br = await waitFor('the br variant', async () => { const r = await get(fp, '/data.json', BR); return r.headers['content-encoding'] === 'br' ? r : undefined })
  t.same(brotliDecompressSync(br.body), json, 'br decodes to the file')
  t.equal(br.headers['content-length'], String(br.body.length))
  const hash = (first.headers.etag as string).slice(1, -1)
  t.equal(br.headers.etag, `"${hash}-br"`)
  const table: Array<[string | undefined, string | undefined]> = [
    ['gzip, deflate, br, zstd', 'br'], ['gzip', 'gzip'], ['br;q=0.5, gzip', 'gzip'], ['br;q=0, gzip;q=0', undefined],
    ['*', 'br'], ['*;q=0', undefined], ['identity', undefined], [undefined, undefined], ['gzip;q=0.5, identity', undefined]
  ]
  for (const [ae, want] of table) {
    const r = await get(fp, '/data.json', ae === undefined ? {} : { 'accept-encoding': ae })
    t.equal(r.headers['content-encoding'], want, `Accept-Encoding ${JSON.stringify(ae)}`)
    t.equal(r.headers.vary, 'Accept-Encoding', 'Vary on every answer, identity ones too')
    t.equal(r.headers.etag, want === undefined ? `"${hash}"` : `"${hash}-${want}"`)
  }
  const gz = await get(fp, '/data.json', { 'accept-encoding': 'gzip' })
  t.same(gunzipSync(gz.body), json, 'gzip decodes to the file')
})

t.test('If-None-Match per variant; Range on the variant sent; HEAD has the same headers', async (t) => {
  await waitFor('the br variant', async () => (await get(fp, '/data.json', BR)).headers['content-encoding'] === 'br' ? true : undefined)
  const br = await get(fp, '/data.json', BR)
  const identity = await get(fp, '/data.json')
  const brTag = br.headers.etag as string
  const idTag = identity.headers.etag as string
  const notModified = await get(fp, '/data.json', { ...BR, 'if-none-match': brTag })
  t.same([notModified.status, notModified.headers.etag, notModified.headers.vary], [304, brTag, 'Accept-Encoding'])
  t.equal((await get(fp, '/data.json', { ...BR, 'if-none-match': idTag })).status, 200, 'the identity tag does not validate the br variant')
  t.equal((await get(fp, '/data.json', { 'if-none-match': brTag })).status, 200, 'nor the br tag the identity one')
  t.equal((await get(fp, '/data.json', { 'if-none-match': idTag })).status, 304)
  t.equal((await get(fp, '/data.json', { 'accept-encoding': 'gzip', 'if-none-match': `${brTag}, "x"` })).status, 200, 'a gzip request with the br tag')

  const part = await get(fp, '/data.json', { ...BR, range: 'bytes=10-99' })
  t.same([part.status, part.headers['content-encoding'], part.headers['content-range']], [206, 'br', `bytes 10-99/${br.body.length}`])
  t.same(part.body, br.body.subarray(10, 100), 'bytes of the compressed body (RFC 9110 §14)')
  t.equal(part.headers['cache-status'], 'podside; hit', '206 says what the cache did too')
  const ifRange = await get(fp, '/data.json', { ...BR, range: 'bytes=0-9', 'if-range': idTag })
  t.same([ifRange.status, ifRange.body.length], [200, br.body.length], 'If-Range with another variant\'s tag: the whole br body')
  t.equal((await get(fp, '/data.json', { ...BR, range: `bytes=${br.body.length}-` })).status, 416)

  const hash = idTag.slice(1, -1)
  const hashed = await get(fp, `/data.json?v=${hash}`, BR)
  t.same([hashed.headers['content-encoding'], hashed.headers['cache-control']], ['br', 'public, max-age=31536000, immutable'], 'the hash URL rule is keyed on <hash>, whatever the variant')
  t.equal((await get(fp, `/data.json?v=${hash}-br`, BR)).headers['cache-control'], 'public, max-age=0, must-revalidate', 'a variant tag is not a hash')

  const head = await get(fp, '/data.json', BR, 'HEAD')
  for (const h of ['etag', 'content-encoding', 'content-length', 'vary', 'cache-status', 'content-type']) t.equal(head.headers[h], br.headers[h], `HEAD ${h}`)
  t.equal(head.body.length, 0)
})

t.test('a PNG is never compressed nor varies; a file below the minimum is sent as it is', async (t) => {
  await get(fp, '/image.png', BR)
  await get(fp, '/data.json', BR) // the variants of data.json are made by now: the PNG's would be too
  const png = await get(fp, '/image.png', BR)
  t.same([png.headers['content-encoding'], png.headers.vary], [undefined, undefined])
  t.same(png.body, json)
  const small = await get(fp, '/plain.txt', BR)
  t.same([small.headers['content-encoding'], small.headers.vary], [undefined, 'Accept-Encoding'])
})

t.test('the variants count in the cache bytes; --compress false makes none', async (t) => {
  const off = await startDaemon('fileproxy', ['--root', base, '--compress', 'false', '--revalidate', '0'])
  t.teardown(async () => await off.stop())
  const on = await startDaemon('fileproxy', ['--root', base, '--revalidate', '0'])
  t.teardown(async () => await on.stop())
  const plain = await get(off, '/data.json', BR)
  t.same([plain.headers['content-encoding'], plain.headers.vary, plain.headers['cache-status']], [undefined, undefined, 'podside; fwd=miss; stored'])
  await get(on, '/data.json', BR)
  const br = await waitFor('the br variant', async () => { const r = await get(on, '/data.json', BR); return r.headers['content-encoding'] === 'br' ? r : undefined })
  const gz = await get(on, '/data.json', { 'accept-encoding': 'gzip' })
  const bytesOff = await metric(off, 'podside_fileproxy_cache_bytes')
  const bytesOn = await metric(on, 'podside_fileproxy_cache_bytes')
  t.equal(bytesOn - bytesOff, br.body.length + gz.body.length, `${bytesOn} - ${bytesOff}: the br and gzip bodies`)
  const check = await runCli(['fileproxy', '--root', base, '--compress=maybe', '--stale-if-error', '1s', '--check-config'])
  t.equal(check.code, 2)
  t.match(check.stderr, /--compress: expected true or false, got "maybe"/)
  t.match(check.stderr, /--stale-if-error \(PODSIDE_STALE_IF_ERROR\): expected 0 or at least --revalidate \(1m\), got 1s/)
})
