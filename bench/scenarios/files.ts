import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { CLI, type Harness, type Target } from '../lib/harness.js'
import { nginxFiles } from '../lib/nginx.js'
import { freePort, startServer, type Server } from '../lib/processes.js'

/** The file proxy against bare node:http, sirv, @fastify/static, serve-static and nginx. */
export async function files (h: Harness, hasNginx: boolean): Promise<void> {
  const { cleanups, notes, peer, urlOf, scenario } = h
  const dir = mkdtempSync(join(tmpdir(), 'podside-bench-files-'))
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, '10k.bin'), Buffer.alloc(10 * 1024, 'a'))
  writeFileSync(join(dir, '200k.bin'), Buffer.alloc(200 * 1024, 'b'))
  const fpPort = await freePort()
  const coldPort = await freePort()
  // Started together: a quick run has to finish in under a minute.
  const ours = async (label: string, port: number, ...extra: string[]): Promise<Server> => {
    const s = await startServer(label, process.execPath,
      [CLI, 'fileproxy', '--root', dir, '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0', '--log-level', 'warn', ...extra], port)
    cleanups.push(s.stop)
    return s
  }
  const kinds = [['bare node:http (memory)', 'bare'], ['sirv', 'sirv'], ['@fastify/static', 'fastify-static'], ['serve-static (express)', 'serve-static']]
  const [fp, cold, peers] = await Promise.all([
    ours('podside fileproxy', fpPort),
    ours('podside fileproxy (no cache)', coldPort, '--cache-size', '1KiB', '--max-object-size', '1KiB'),
    Promise.all(kinds.map(async ([label, kind]): Promise<Target> => {
      const s = await peer(label, kind, dir)
      return { label, podside: false, server: s, url: urlOf(s) }
    }))
  ])
  if (hasNginx) {
    const n = await nginxFiles(dir)
    cleanups.push(n.stop)
    peers.push({ label: 'nginx (open_file_cache)', podside: false, server: n, url: n.url })
  } else notes.push('nginx is not installed: its rows are skipped (apt-get install nginx)')
  const podside: Target = { label: 'podside fileproxy', podside: true, server: fp, url: `http://127.0.0.1:${fpPort}` }
  // podside in the middle, so it runs alternately with its peers.
  const all = [peers[0], peers[1], podside, ...peers.slice(2)]
  for (const t of all) await request(t.url + '/10k.bin').then(async (r) => await r.body.dump()) // warm
  for (const t of all) await request(t.url + '/200k.bin').then(async (r) => await r.body.dump())
  await scenario('file 10 KiB, warm', all, '/10k.bin')
  await scenario('file 200 KiB, warm', all, '/200k.bin')
  const etags = new Map<string, string>()
  for (const t of all) {
    const r = await request(t.url + '/10k.bin')
    await r.body.dump()
    etags.set(t.label, String(r.headers.etag))
  }
  const with304 = all.map((t) => ({ ...t, headers: { 'if-none-match': etags.get(t.label) as string } }))
  await scenario('304 (If-None-Match), 10 KiB', with304, '/10k.bin')
  const coldTarget: Target = { label: 'podside fileproxy (no cache)', podside: true, server: cold, url: `http://127.0.0.1:${coldPort}` }
  await scenario('file 10 KiB from disk (podside cache off)', [peers[1], coldTarget, ...peers.slice(2)], '/10k.bin')
}
