import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { BEFORE, BEFORE_CLI, CLI, QUIET, type Harness, type Target } from '../lib/harness.js'
import { nginxFiles } from '../lib/nginx.js'
import { freePort, startServer, type Server } from '../lib/processes.js'

/**
 * The file proxy against bare node:http, sirv, @fastify/static, serve-static and nginx, each at
 * the settings users run: podside's access log at `info` to a drained pipe, nginx's buffered. A
 * second row of each (`--log-level warn`, `access_log off`) shows what logging costs.
 */
export async function files (h: Harness, hasNginx: boolean): Promise<void> {
  const { cleanups, notes, peer, urlOf, scenario } = h
  const dir = mkdtempSync(join(tmpdir(), 'podside-bench-files-'))
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, '10k.bin'), Buffer.alloc(10 * 1024, 'a'))
  writeFileSync(join(dir, '200k.bin'), Buffer.alloc(200 * 1024, 'b'))
  const fpPort = await freePort()
  const quietPort = await freePort()
  const coldPort = await freePort()
  // Started together: a quick run has to finish in under a minute.
  const ours = async (label: string, port: number, ...extra: string[]): Promise<Server> => {
    const s = await startServer(label, process.execPath,
      [label.endsWith(BEFORE) ? BEFORE_CLI as string : CLI, 'fileproxy', '--root', dir, '--listen', `127.0.0.1:${port}`, '--admin-listen', '127.0.0.1:0', ...extra], port, {}, 'drain')
    cleanups.push(s.stop)
    return s
  }
  const kinds = [['bare node:http (memory)', 'bare'], ['sirv', 'sirv'], ['@fastify/static', 'fastify-static'], ['serve-static (express)', 'serve-static']]
  const beforePort = await freePort()
  const [fp, quiet, cold, before, peers] = await Promise.all([
    ours('podside fileproxy', fpPort),
    ours(`podside fileproxy ${QUIET}`, quietPort, '--log-level', 'warn'),
    ours('podside fileproxy (no cache)', coldPort, '--cache-size', '1KiB', '--max-object-size', '1KiB'),
    BEFORE_CLI === undefined ? undefined : ours(`podside fileproxy ${BEFORE}`, beforePort),
    Promise.all(kinds.map(async ([label, kind]): Promise<Target> => {
      const s = await peer(label, kind, dir)
      return { label, podside: false, server: s, url: urlOf(s) }
    }))
  ])
  if (hasNginx) {
    const [n, off] = await Promise.all([nginxFiles(dir), nginxFiles(dir, false)])
    cleanups.push(n.stop, off.stop)
    peers.push({ label: 'nginx (open_file_cache)', podside: false, server: n, url: n.url },
      { label: 'nginx (open_file_cache), access_log off', podside: false, server: off, url: off.url })
  } else notes.push('nginx is not installed: its rows are skipped (apt-get install nginx)')
  const podside: Target = { label: 'podside fileproxy', podside: true, server: fp, url: `http://127.0.0.1:${fpPort}` }
  const podsideQuiet: Target = { label: `podside fileproxy ${QUIET}`, podside: true, server: quiet, url: `http://127.0.0.1:${quietPort}` }
  // podside in the middle, so it runs alternately with its peers.
  const all = [peers[0], peers[1], podside, podsideQuiet, ...peers.slice(2)]
  if (before !== undefined) all.splice(4, 0, { label: `podside fileproxy ${BEFORE}`, podside: true, server: before, url: `http://127.0.0.1:${beforePort}` })
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
