import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { request } from 'undici'
import { startDaemon, type Daemon } from '../helpers/processes.js'

/**
 * Issue 13 item 2 with real processes: a file above --max-object-size is hashed and streamed from
 * one open handle. Replaced by rename, it is served whole (old or new) with the ETag of what was
 * sent; rewritten in place, an answer is either complete and consistent or cut short, never wrong
 * and never left hanging.
 */
const KiB = 1024
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-torn-')))
const root = join(base, 'up')
mkdirSync(root)
t.teardown(() => rmSync(base, { recursive: true, force: true }))

/** The ETag the file proxy sends: the first 22 characters of the base64url SHA-256 of the body. */
const etagOf = (body: Buffer): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`

/**
 * Rewrites root/<name> until stopped, alternating 80 and 120 KiB of a byte that changes each time:
 * by `rename` of a fresh file over it, or in place (truncate, then write).
 */
function startRewriting (name: string, how: 'rename' | 'in-place'): { stop: () => Promise<void> } {
  const flag = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(`
    const { renameSync, writeFileSync } = require('node:fs')
    const { target, how, flag } = require('node:worker_threads').workerData
    for (let i = 0; Atomics.load(flag, 0) === 0; i++) {
      const data = Buffer.alloc(i % 2 === 0 ? 80 * 1024 : 120 * 1024, 65 + i % 26)
      if (how === 'rename') { writeFileSync(target + '.tmp', data); renameSync(target + '.tmp', target) } else writeFileSync(target, data)
      Atomics.wait(flag, 0, 0, 2) // pacing: one new version every ~2 ms, as in the report
    }`, { eval: true, workerData: { target: join(root, name), how, flag } })
  const exited = new Promise<void>((resolve, reject) => { worker.once('exit', () => resolve()); worker.once('error', reject) })
  return { async stop () { Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); await exited } }
}

interface Tally { consistent: number, wrong: number, cutShort: number, hung: number, other: number }

/** Two clients, `n` GETs each; a request gives up after 5 s (counted as hung). */
async function readWhileRewritten (d: Daemon, path: string, n: number): Promise<Tally> {
  const tally: Tally = { consistent: 0, wrong: 0, cutShort: 0, hung: 0, other: 0 }
  await Promise.all([0, 1].map(async () => {
    // One hang already fails the test: stop there rather than wait out every other one.
    for (let i = 0; i < n && tally.hung === 0; i++) {
      const signal = AbortSignal.timeout(5000)
      try {
        const res = await request(d.url + path, { signal })
        const body = Buffer.from(await res.body.arrayBuffer())
        if (res.statusCode !== 200) { tally.other++; continue }
        const ok = etagOf(body) === res.headers.etag && body.length === Number(res.headers['content-length'])
        if (ok) tally.consistent++
        else tally.wrong++
      } catch (err) {
        if (signal.aborted) tally.hung++
        else tally.cutShort++
      }
    }
  }))
  return tally
}

const tornReads = async (d: Daemon): Promise<number> => {
  const text = await (await request(d.adminUrl + '/metrics')).body.text()
  return Number(/^podside_fileproxy_torn_reads_total (\d+)/m.exec(text)?.[1])
}

t.test('a streamed file replaced by rename is served whole, old or new, with the ETag of what was sent', async (t) => {
  writeFileSync(join(root, 'renamed.bin'), Buffer.alloc(100 * KiB, 'x'))
  const d = await startDaemon('fileproxy', ['--root', root, '--max-object-size', '64KiB'])
  t.teardown(async () => await d.stop())
  const rewriting = startRewriting('renamed.bin', 'rename')
  let tally: Tally
  try { tally = await readWhileRewritten(d, '/renamed.bin', 100) } finally { await rewriting.stop() }
  t.comment(JSON.stringify(tally))
  t.same(tally, { consistent: 200, wrong: 0, cutShort: 0, hung: 0, other: 0 }, 'every answer complete and matching its ETag and Content-Length')
})

t.test('a streamed file rewritten in place is either sent consistent or cut short, never wrong, never hanging', async (t) => {
  writeFileSync(join(root, 'inplace.bin'), Buffer.alloc(100 * KiB, 'x'))
  const d = await startDaemon('fileproxy', ['--root', root, '--max-object-size', '64KiB'])
  t.teardown(async () => await d.stop())
  const rewriting = startRewriting('inplace.bin', 'in-place')
  let tally: Tally
  try { tally = await readWhileRewritten(d, '/inplace.bin', 100) } finally { await rewriting.stop() }
  t.comment(JSON.stringify(tally))
  t.equal(tally.wrong, 0, 'no complete 200 whose body differs from its ETag or Content-Length')
  t.equal(tally.hung, 0, 'no request left hanging')
  t.equal(tally.other, 0, 'every answer was a 200')
  t.ok(await tornReads(d) >= tally.cutShort, 'every answer cut short was counted in podside_fileproxy_torn_reads_total')
  if (tally.cutShort > 0) t.ok(d.lines.some((l) => l.level === 'warn' || l.level === 40), 'and logged as a warning')
})
