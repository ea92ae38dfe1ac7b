import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Pool, request } from 'undici'
import { LOG_SINK_DEFAULTS } from '../../shared/log-sink.js'
import { CLI } from '../helpers/processes.js'
import { freePort, waitFor } from '../helpers/ports.js'

/** A real `podside fileproxy` whose stdout is a pipe this test reads only when it chooses to. */
async function fileproxy (t: Test) {
  const root = mkdtempSync(join(tmpdir(), 'podside-stdout-'))
  writeFileSync(join(root, 'a.txt'), 'hello')
  const [port, adminPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, [CLI, 'fileproxy', '--root', root, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`],
    { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
    rmSync(root, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  const adminUrl = `http://127.0.0.1:${adminPort}`
  await waitFor('the file proxy to listen', async () => {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
    const r = await request(`${adminUrl}/healthz`)
    await r.body.dump()
    return r.statusCode === 200 ? true : undefined
  }, 30_000)
  let out = ''
  const read = (): void => { child.stdout.on('data', (d) => { out += String(d) }) }
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
  const rssKiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1])
  return { child, url, adminUrl, read, lines, exited, rssKiB }
}

/** `n` GETs over `connections` keep-alive connections; `path(i)` names each. */
async function drive (url: string, n: number, path: (i: number) => string, each?: (i: number) => void): Promise<void> {
  const pool = new Pool(url, { connections: 16 })
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      const i = next++
      const r = await pool.request({ method: 'GET', path: path(i) })
      await r.body.dump()
      each?.(i)
    }
  }))
  await pool.close()
}

const droppedOf = async (adminUrl: string): Promise<number> => {
  const r = await request(`${adminUrl}/metrics`)
  return Number(/^podside_log_lines_dropped_total (\d+)$/m.exec(await r.body.text())?.[1])
}

t.test('a stalled stdout reader: memory stays bounded, drops are counted, one warning when reading resumes, then lines again', async (t) => {
  const fp = await fileproxy(t)
  // Lines of ~12 KB: 16,000 requests try to log ~190 MiB, far past the pipe and the sink's 8 MiB.
  const n = 16_000
  const long = '/' + 'p'.repeat(12_000)
  const external = async (): Promise<number> => {
    const r = await request(`${fp.adminUrl}/metrics`)
    return Number(/^nodejs_external_memory_bytes (\d+)$/m.exec(await r.body.text())?.[1])
  }
  const externalBefore = await external()
  const before = fp.rssKiB()
  let peak = before
  await drive(fp.url, n, (i) => `${long}${i}`, (i) => { if (i % 250 === 0) peak = Math.max(peak, fp.rssKiB()) })
  peak = Math.max(peak, fp.rssKiB())
  const boundMiB = LOG_SINK_DEFAULTS.maxPendingBytes / 2 ** 20
  // The pending lines are bytes outside the V8 heap: external memory grows by the bound, no more.
  const pendingMiB = (await external() - externalBefore) / 2 ** 20
  t.ok(pendingMiB <= boundMiB + 2, `external memory grew by ${pendingMiB.toFixed(1)} MiB (bound ${boundMiB} MiB)`)
  // The process as a whole: the bound plus what the heap of a busy process grows by, which the
  // same load gives with a live reader too (README, Logs); an unbounded buffer would add ~190 MiB.
  const grewMiB = (peak - before) / 1024
  t.ok(grewMiB < boundMiB + 140, `RSS grew by ${grewMiB.toFixed(1)} MiB while ~190 MiB of lines were logged`)
  const dropped = await droppedOf(fp.adminUrl)
  t.ok(dropped > 0, `${dropped} lines dropped and counted in podside_log_lines_dropped_total`)

  fp.read()
  const warnings = (): Array<Record<string, unknown>> => fp.lines().filter((l) => l.msg === 'log lines dropped: stdout did not keep up')
  await waitFor('the warning', () => warnings()[0], 30_000)
  t.match(warnings(), [{ level: 40, name: 'fileproxy', dropped }], 'one warning line, with the count')
  const r = await request(`${fp.url}/a.txt`)
  await r.body.dump()
  await waitFor('the next request\'s line', () => fp.lines().find((l) => l.msg === 'request' && l.path === '/a.txt'), 30_000)
  t.equal(warnings().length, 1, 'still one warning')
  const logged = fp.lines().filter((l) => l.msg === 'request').length
  t.equal(logged + dropped, n + 1, 'every request either logged whole or counted as dropped')
})

t.test('SIGTERM right after N requests: all N access lines are on stdout before the process exits', async (t) => {
  const fp = await fileproxy(t)
  fp.read()
  const n = 2000
  await drive(fp.url, n, (i) => `/missing-${i}`)
  fp.child.kill('SIGTERM')
  t.equal(await fp.exited, 0)
  const paths = new Set(fp.lines().filter((l) => l.msg === 'request').map((l) => l.path))
  t.equal(paths.size, n, `${paths.size} of ${n} access lines`)
  t.ok(paths.has(`/missing-${n - 1}`))
  t.match(fp.lines().at(-1), { msg: 'fileproxy stopped' }, 'the last line is the last thing it did')
})
