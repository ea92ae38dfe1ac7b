import t, { type Test } from 'tap'
import net from 'node:net'
import { execFileSync } from 'node:child_process'
import { constants, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { request } from 'undici'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'

/**
 * Issue 12 with real processes: only regular files inside --root are opened, decided on the opened
 * handle. FIFOs used to hold libuv's fs threads forever; a directory swapped for a symlink between
 * the confinement check and the open used to serve bytes from outside the root.
 */
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-open-')))
const root = join(base, 'up')
mkdirSync(join(root, 'real'), { recursive: true })
mkdirSync(join(base, 'outside'))
t.teardown(() => rmSync(base, { recursive: true, force: true }))

const OUTSIDE = 'OUTSIDE-THE-ROOT'
writeFileSync(join(root, 'real', 'secret.txt'), 'inside, small')
writeFileSync(join(root, 'real', 'big.bin'), Buffer.alloc(4096, 'i'))
writeFileSync(join(base, 'outside', 'secret.txt'), OUTSIDE)
writeFileSync(join(base, 'outside', 'big.bin'), Buffer.concat([Buffer.from(OUTSIDE), Buffer.alloc(4096 - OUTSIDE.length, 'o')]))

/** A GET that gives up after `ms` (a hang is a failure, never a stuck test). */
async function get (d: Daemon, path: string, ms = 5000): Promise<{ status: number, body: Buffer }> {
  const res = await request(d.url + path, { signal: AbortSignal.timeout(ms) })
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) }
}

t.test('FIFOs, unix sockets, devices and directories are 404 at once, and the process keeps answering', async (t) => {
  const dir = join(root, 'special')
  mkdirSync(dir)
  const fifos = Array.from({ length: 6 }, (_, i) => join(dir, `pipe${i}.png`))
  execFileSync('mkfifo', fifos)
  const sock = net.createServer()
  await new Promise<void>((resolve) => sock.listen(join(dir, 'sock.png'), resolve))
  mkdirSync(join(dir, 'folder.png'))
  symlinkSync('/dev/zero', join(dir, 'zero.png'))
  let device = false
  try { execFileSync('mknod', [join(dir, 'null.png'), 'c', '1', '3'], { stdio: 'ignore' }); device = true } catch { /* not root: the symlink above stands in */ }
  writeFileSync(join(dir, 'fresh.txt'), 'fresh')
  const d = await startDaemon('fileproxy', ['--root', root])
  t.teardown(async () => {
    // Before the fix the daemon sits in open() on the FIFOs: a writer lets those opens return.
    for (const f of fifos) { try { closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK)) } catch { /* no reader */ } }
    await d.stop('SIGKILL')
    await new Promise((resolve) => sock.close(resolve))
  })

  const pending = fifos.map(async (_, i) => await get(d, `/special/pipe${i}.png`).then((r) => r.status, (err: Error) => err.name))
  const answers = await waitFor('a new file, a 404 and /readyz while six FIFOs are requested', async () => {
    const fresh = await get(d, '/special/fresh.txt', 1000)
    const missing = await get(d, '/special/missing.png', 1000)
    const ready = await request(d.adminUrl + '/readyz', { signal: AbortSignal.timeout(1000) })
    await ready.body.dump()
    return [fresh.status, fresh.body.toString(), missing.status, ready.statusCode]
  }, 8000)
  t.same(answers, [200, 'fresh', 404, 200])
  t.same(await Promise.all(pending), [404, 404, 404, 404, 404, 404], 'every FIFO is not found')
  t.equal((await get(d, '/special/sock.png')).status, 404, 'a unix socket is not found (was 500 FP_ERR_READ)')
  t.equal((await get(d, '/special/folder.png')).status, 404, 'a directory named like a file is not found')
  t.equal((await get(d, '/special/zero.png')).status, 403, 'a symlink to /dev/zero leaves the root')
  if (device) t.equal((await get(d, '/special/null.png')).status, 404, 'a character device is not found')
  t.equal(await d.stop(), 0, 'SIGTERM stops it cleanly')
})

/**
 * Swaps root/real (a directory) for a symlink to an outside directory and back, as fast as a
 * worker thread can, until told to stop; leaves the directory in place.
 */
function startSwapping (): { stop: () => Promise<void> } {
  const stopFlag = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(`
    const { renameSync, symlinkSync, unlinkSync } = require('node:fs')
    const { real, parked, outside, flag } = require('node:worker_threads').workerData
    while (Atomics.load(flag, 0) === 0) {
      renameSync(real, parked)
      symlinkSync(outside, real)
      unlinkSync(real)
      renameSync(parked, real)
    }`, { eval: true, workerData: { real: join(root, 'real'), parked: join(root, 'parked'), outside: join(base, 'outside'), flag: stopFlag } })
  const exited = new Promise<void>((resolve, reject) => { worker.once('exit', () => resolve()); worker.once('error', reject) })
  return {
    async stop () {
      Atomics.store(stopFlag, 0, 1)
      await exited
      if (existsSync(join(root, 'parked'))) {
        if (lstatSync(join(root, 'real'), { throwIfNoEntry: false })?.isSymbolicLink() === true) unlinkSync(join(root, 'real'))
        renameSync(join(root, 'parked'), join(root, 'real'))
      }
    }
  }
}

/** 1,000 GETs of `path` (8 at a time) while root/real is swapped: no answer may carry outside bytes. */
async function raceWhileSwapping (t: Test, args: string[], path: string): Promise<void> {
  const d = await startDaemon('fileproxy', ['--root', root, ...args])
  t.teardown(async () => await d.stop())
  const counts: Record<string, number> = {}
  let leaked = 0
  let left = 1000
  const swapping = startSwapping()
  try {
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (left-- > 0) {
        // A body cut short (the old code's stream reopened a vanished path) counts as an error, not a leak.
        const r = await get(d, path).catch((err: Error) => ({ status: err.name, body: Buffer.from(err.message) }))
        counts[r.status] = (counts[r.status] ?? 0) + 1
        if (r.body.includes(OUTSIDE) || r.body.includes('oooo')) leaked++
      }
    }))
  } finally {
    await swapping.stop()
  }
  t.comment(JSON.stringify(counts))
  t.equal(leaked, 0, 'no answer carried the outside file')
  t.equal((await get(d, path)).status, 200, 'served again once the swapping stopped')
}

t.test('a directory swapped for a symlink to outside the root never yields outside bytes: cached file', async (t) => {
  // --revalidate 1ms: the cached entry is re-checked and reloaded again and again during the swap.
  await raceWhileSwapping(t, ['--revalidate', '1ms'], '/real/secret.txt')
})

t.test('a directory swapped for a symlink to outside the root never yields outside bytes: cache off', async (t) => {
  // 512 bytes of cache hold nothing (each entry also costs 512 bytes of bookkeeping).
  await raceWhileSwapping(t, ['--cache-size', '512', '--max-object-size', '512'], '/real/secret.txt')
})

t.test('a directory swapped for a symlink to outside the root never yields outside bytes: streamed file', async (t) => {
  // 4 KiB is above --max-object-size: streamed from disk.
  await raceWhileSwapping(t, ['--cache-size', '512', '--max-object-size', '512'], '/real/big.bin')
})
