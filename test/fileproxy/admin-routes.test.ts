import t from 'tap'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { request } from 'undici'
import { createAdminServer } from '../../shared/admin-server.js'
import { fileRoutes } from '../../fileproxy/admin-routes.js'
import { createFileStore } from '../../fileproxy/file-store.js'
import { createFileproxyMetrics } from '../../fileproxy/metrics.js'
import type { PurgeSpec } from '../../fileproxy/purge-message.js'
import { silentLogger } from '../helpers/log.js'
import { serve } from '../helpers/processes.js'

/**
 * The file proxy's admin endpoints (fileproxy/admin-routes.ts), `GET /v1/url` and `POST /v1/purge`,
 * behind a real admin listener on a free port over a real file store on a temporary root.
 */
const KiB = 1024
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-fp-admin-')))
const root = join(base, 'root')
mkdirSync(join(root, 'avatars'), { recursive: true })
writeFileSync(join(root, 'avatars', '42.png'), 'avatar')
writeFileSync(join(root, 'a file ü.txt'), 'spaces and umlaut')
writeFileSync(join(root, '.env'), 'SECRET=1')
writeFileSync(join(root, 'big.bin'), Buffer.alloc(64 * KiB, 'b'))
writeFileSync(join(base, 'outside.txt'), 'outside the root')
t.teardown(() => rmSync(base, { recursive: true, force: true }))

let files: ReturnType<typeof createFileStore> | undefined
const metrics = createFileproxyMetrics(() => ({ bytes: files?.bytes ?? 0, entries: files?.entries ?? 0 }))
files = createFileStore({ root, cacheSize: 1024 * KiB, maxObjectSize: 16 * KiB, revalidateMs: 60_000, staleIfErrorMs: 0, compress: false, compressMinBytes: 256, compressLevels: { brotliQuality: 5, gzipLevel: 6 }, entryOverheadBytes: 512, hashMemoEntries: 10, metrics })
const store = files
const purges: Array<{ spec: PurgeSpec, source: string }> = []
const MAX_PURGE = 1024
const srv = await serve(createAdminServer({
  log: silentLogger(),
  registry: new Registry(),
  ready: async () => {},
  routes: fileRoutes(store, { hashParam: 'v', maxPurgeBytes: MAX_PURGE, purge: (spec, source) => { purges.push({ spec, source }); return 3 } })
}))
t.teardown(async () => await srv.close())

async function call (method: string, path: string, body?: string | Buffer) {
  const res = await request(srv.url + path, { method: method as 'GET', body })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: text === '' ? undefined : JSON.parse(text) }
}
const url = (path: string): string => '/v1/url?path=' + encodeURIComponent(path)

t.test('GET /v1/url: the hash URL, the ETag and the size of a file', async (t) => {
  const r = await call('GET', url('/avatars/42.png'))
  t.equal(r.status, 200)
  t.equal(r.headers['cache-control'], 'no-store')
  const hit = await store.get('/avatars/42.png')
  t.same(r.json, { url: `/avatars/42.png?v=${hit.meta.hash}`, etag: hit.meta.etag, size: 6 })
  t.match(r.json.etag, /^"[A-Za-z0-9_-]{22}"$/)
})

t.test('GET /v1/url: the path is normalised and the URL percent-encoded', async (t) => {
  const r = await call('GET', url('//a file ü.txt'))
  t.equal(r.status, 200)
  t.match(r.json.url, /^\/a%20file%20%C3%BC\.txt\?v=[A-Za-z0-9_-]{22}$/)
})

t.test('GET /v1/url of a file above --max-object-size: hashed from disk, answered the same way', async (t) => {
  const r = await call('GET', url('/big.bin'))
  t.equal(r.status, 200)
  t.equal(r.json.size, 64 * KiB)
  t.equal((await call('GET', url('/big.bin'))).json.url, r.json.url, 'again: the handle was released, the hash is the same')
})

t.test('HEAD /v1/url: 200 and no body', async (t) => {
  const r = await call('HEAD', url('/avatars/42.png'))
  t.same([r.status, r.text], [200, ''])
})

t.test('GET /v1/url errors: 400 without a path or with a traversal, 404 for missing files, dotfiles and directories; no file-system path shown', async (t) => {
  const cases: Array<[string, number, string]> = [
    ['/v1/url', 400, 'FP_ERR_BAD_PATH'],
    [url('avatars/42.png'), 400, 'FP_ERR_BAD_PATH'],
    [url('/../outside.txt'), 400, 'FP_ERR_BAD_PATH'],
    [url('/missing.png'), 404, 'FP_ERR_NOT_FOUND'],
    [url('/.env'), 404, 'FP_ERR_NOT_FOUND'],
    [url('/avatars/'), 404, 'FP_ERR_NOT_FOUND']
  ]
  for (const [path, status, code] of cases) {
    const r = await call('GET', path)
    t.equal(r.status, status, path)
    t.equal(r.json.error.code, code, path)
    t.notMatch(r.text, base, `${path}: no file-system path`)
  }
})

t.test('POST /v1/purge: the parsed message is handed over as an admin purge and the count answered', async (t) => {
  purges.length = 0
  const r = await call('POST', '/v1/purge', JSON.stringify({ id: 'p1', paths: ['//avatars/42.png'], prefixes: ['/docs//'] }))
  t.equal(r.status, 200)
  t.same(r.json, { purged: 3 })
  t.same(purges, [{ spec: { id: 'p1', paths: ['/avatars/42.png'], prefixes: ['/docs/'], all: false }, source: 'admin' }])
  const plain = await call('POST', '/v1/purge', '/avatars/42.png')
  t.equal(plain.status, 200, 'a plain path, as on the channel')
  t.same(purges[1].spec.paths, ['/avatars/42.png'])
})

t.test('POST /v1/purge: 400 FP_ERR_BAD_PATH for a message that is not one, saying why', async (t) => {
  purges.length = 0
  const cases: Array<[string, RegExp]> = [
    ['nonsense', /neither a path starting with \/ nor a JSON object/],
    ['{not json', /malformed JSON/],
    ['{}', /names nothing to purge/],
    ['{"paths":"/a.png"}', /"paths" must be an array of strings/],
    ['{"paths":["/../x"]}', /dot segments/]
  ]
  for (const [body, message] of cases) {
    const r = await call('POST', '/v1/purge', body)
    t.equal(r.status, 400, body)
    t.equal(r.json.error.code, 'FP_ERR_BAD_PATH', body)
    t.match(r.json.error.message, message, body)
  }
  t.same(purges, [], 'nothing was purged')
})

t.test('POST /v1/purge: a body over the limit is refused with 400, whatever its size', async (t) => {
  purges.length = 0
  for (const size of [MAX_PURGE + 1, 256 * KiB]) {
    const body = JSON.stringify({ paths: ['/' + 'x'.repeat(size)] })
    const r = await call('POST', '/v1/purge', body)
    t.equal(r.status, 400, `${size} bytes`)
    t.same(r.json, { error: { code: 'FP_ERR_BAD_PATH', message: `purge message larger than ${MAX_PURGE} bytes` } })
  }
  t.same(purges, [])
})

t.test('/v1/purge with another method: 405 FP_ERR_METHOD_NOT_ALLOWED with Allow: POST', async (t) => {
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const r = await call(method, '/v1/purge')
    t.equal(r.status, 405, method)
    t.equal(r.headers.allow, 'POST', method)
    t.equal(r.json.error.code, 'FP_ERR_METHOD_NOT_ALLOWED', method)
  }
})

// Known bug, left failing on purpose (see the report of the unit-test branch): /v1/url exists, so
// another method is a 405 naming the allowed ones (RFC 9110 §15.5.6), as /v1/purge and the
// gateway's session API answer; it falls through to the listener's 404 instead.
t.test('/v1/url with another method: 405 FP_ERR_METHOD_NOT_ALLOWED with Allow: GET, HEAD', async (t) => {
  const r = await call('POST', url('/avatars/42.png'))
  t.equal(r.status, 405)
  t.equal(r.headers.allow, 'GET, HEAD')
  t.equal(r.json?.error?.code, 'FP_ERR_METHOD_NOT_ALLOWED')
})

t.test('other paths fall through to the admin listener\'s 404', async (t) => {
  for (const path of ['/v1/urls', '/v1/purge/x', '/v2/url']) {
    const r = await call('GET', path)
    t.equal(r.status, 404, path)
    t.equal(r.json.error.code, 'ADMIN_ERR_NOT_FOUND', path)
  }
})
