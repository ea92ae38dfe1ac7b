import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { request } from 'undici'
import { CLI, type Harness, type Target } from '../lib/harness.js'
import { nginxCompressed } from '../lib/nginx.js'
import { freePort, startServer } from '../lib/processes.js'

const KiB = 1024
const BROWSER = { 'accept-encoding': 'br, gzip' }

/** A JSON document of exactly `size` bytes, of the usual shape (an API listing), deterministic. */
export function jsonDocument (size = 100 * KiB): Buffer {
  const rows: string[] = []
  let length = 2 // the brackets
  for (let i = 0; ; i++) {
    const row = JSON.stringify({ id: i, name: `user-${i}`, email: `user${i}@example.com`, active: i % 3 === 0, score: (i * 7919) % 1000, tags: ['a', 'b', String(i % 7)] })
    if (length + row.length + 1 > size) break
    rows.push(row)
    length += row.length + 1
  }
  const text = `[${rows.join(',')}]`
  return Buffer.from(text + '\n'.repeat(size - text.length)) // trailing whitespace is valid JSON
}

/**
 * A 100 KiB JSON file served compressed to a client that sends `Accept-Encoding: br, gzip` as a
 * browser does: podside (variants made once per load, in memory) against @fastify/static with
 * @fastify/compress (compressed per request), @fastify/static preCompressed (.br/.gz on disk) and
 * nginx (gzip_static; stock nginx has no brotli).
 */
export async function compressed (h: Harness, hasNginx: boolean): Promise<void> {
  const { cleanups, notes, peer, urlOf, scenario } = h
  const dir = mkdtempSync(join(tmpdir(), 'podside-bench-compressed-'))
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
  const json = jsonDocument()
  writeFileSync(join(dir, 'data.json'), json)
  writeFileSync(join(dir, 'data.json.br'), brotliCompressSync(json, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }))
  writeFileSync(join(dir, 'data.json.gz'), gzipSync(json, { level: 9 }))
  const port = await freePort()
  const fp = await startServer('podside fileproxy', process.execPath,
    [CLI, 'fileproxy', '--root', dir, '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0'], port, {}, 'drain')
  cleanups.push(fp.stop)
  const podside: Target = { label: 'podside fileproxy (br variant in memory)', podside: true, server: fp, url: `http://127.0.0.1:${port}`, headers: BROWSER }
  const peers: Target[] = []
  for (const [label, kind] of [['@fastify/static + @fastify/compress', 'fastify-compress'], ['@fastify/static preCompressed (.br on disk)', 'fastify-precompressed']]) {
    const s = await peer(label, kind, dir)
    peers.push({ label, podside: false, server: s, url: urlOf(s), headers: BROWSER })
  }
  if (hasNginx) {
    const n = await nginxCompressed(dir)
    cleanups.push(n.stop)
    peers.push({ label: 'nginx (gzip_static, gzip on)', podside: false, server: n, url: n.url, headers: BROWSER })
  } else notes.push('nginx is not installed on this machine: its compressed row (gzip_static, gzip on) is skipped')
  const all = [peers[0], podside, ...peers.slice(1)]
  // podside answers identity until the variants of a load are made: ask until it sends br.
  const deadline = Date.now() + 10_000
  for (const t of all) {
    for (;;) {
      const r = await request(t.url + '/data.json', { headers: BROWSER })
      const body = Buffer.from(await r.body.arrayBuffer())
      const encoding = String(r.headers['content-encoding'] ?? 'identity')
      if (encoding !== 'identity' || Date.now() > deadline) {
        notes.push(`compressed JSON / ${t.label}: ${encoding}, ${body.length} bytes on the wire for ${json.length}`)
        break
      }
    }
  }
  await scenario('JSON 100 KiB, Accept-Encoding: br, gzip', all, '/data.json')
}
