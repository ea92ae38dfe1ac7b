import t from 'tap'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { logKey } from '../../fileproxy/purge-stream.js'
import { runCli } from '../helpers/cli.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { getText as get, readyz, whenReady as ready } from '../helpers/fileproxy.js'

/**
 * Issue 18 end to end, real processes: purges that can be awaited (`podside purge --wait`, with a
 * paused node), that are never too large (5,001 paths), and the fleet showing the last purge id.
 * (The replay after a cut link is in test/fileproxy/purge-replay.test.ts.)
 */
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-await-')))
const root = join(base, 'files')
mkdirSync(join(root, 'keep'), { recursive: true })
mkdirSync(join(root, 'purged'), { recursive: true })
const put = (rel: string, data: string): void => writeFileSync(join(root, rel), data)

const redis = await startRedis()
const admin = redis.client()
const args = (url: string): string[] => ['--root', root, '--redis', url, '--revalidate', '0']
const a = await startDaemon('fileproxy', args(redis.url))
const b = await startDaemon('fileproxy', args(redis.url))
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()])
  await stopRedis(redis)
  rmSync(base, { recursive: true, force: true })
})

const nodeId = (d: Daemon): string => d.lines.find((l) => l.msg === 'fileproxy listening')?.node as string
await ready(a)
await ready(b)

t.test('podside purge of 5,001 paths: split under the 64 KiB limit, one id, applied by both nodes', async (t) => {
  const paths = Array.from({ length: 5001 }, (_, i) => `/purged/many-${String(i).padStart(5, '0')}.txt`)
  for (const i of [0, 2500, 5000]) put(paths[i].slice(1), 'many v1')
  for (const d of [a, b]) for (const i of [0, 2500, 5000]) t.equal(await get(d, paths[i]), 'many v1')
  for (const i of [0, 2500, 5000]) put(paths[i].slice(1), 'many v2')
  const run = await runCli(['purge', '--redis', redis.url, '--wait', '10s', ...paths])
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^purge \S+ received by 2 file proxies \(in \d+ messages\)\n/)
  t.equal(run.stdout.split('\n').filter((l) => l.includes('acknowledged in')).length, 2, 'both acknowledged every part')
  for (const d of [a, b]) for (const i of [0, 2500, 5000]) t.equal(await get(d, paths[i]), 'many v2', `${paths[i]} purged`)
  for (const d of [a, b]) t.notOk(d.lines.find((l) => l.msg === 'purge message ignored'), 'no part was ignored')
})

t.test('podside purge --wait: one line per node; a paused (SIGSTOP) node is named and the exit is 1', async (t) => {
  const c = await startDaemon('fileproxy', args(redis.url))
  t.teardown(async () => { c.child.kill('SIGCONT'); await c.stop() })
  await ready(c)
  const ids = [a, b, c].map(nodeId)
  t.ok(ids.every((id) => /^[0-9a-f]{12}$/.test(id)), 'each node logs its fleet id')
  const all = await runCli(['purge', '--redis', redis.url, '--wait', '/keep/0.txt'])
  t.equal(all.code, 0, all.stderr)
  for (const id of ids) t.match(all.stdout, new RegExp(`^${id} \\(.*\\) acknowledged in \\d+ ms$`, 'm'))
  c.child.kill('SIGSTOP')
  const paused = await runCli(['purge', '--redis', redis.url, '--wait', '1s', '/keep/1.txt'])
  t.equal(paused.code, 1)
  t.match(paused.stdout, /received by 3 file proxies/, 'the kernel took its message; the process did not apply it')
  for (const id of ids.slice(0, 2)) t.match(paused.stdout, new RegExp(`^${id} \\(.*\\) acknowledged in \\d+ ms$`, 'm'))
  t.match(paused.stdout, new RegExp(`^${ids[2]} \\(.*\\) did not acknowledge$`, 'm'))
  t.match(paused.stderr, new RegExp(`1 file proxy did not acknowledge within 1s: ${ids[2]} \\(`))
  t.notMatch(paused.stderr, ids[0])
  c.child.kill('SIGCONT')
  await waitFor('the paused node to catch up and acknowledge', async () => {
    const run = await runCli(['purge', '--redis', redis.url, '--wait', '2s', '/keep/2.txt'])
    return run.code === 0 ? run : undefined
  }, 20_000)
  t.pass('all three acknowledge once it runs again')
})

t.test('podside purge --wait: a bad TIMEOUT is exit 2 naming --wait, and nothing is published', async (t) => {
  const before = await admin.xlen(logKey('podside:purge'))
  const bads = [['--wait', 'abc'], ['--wait', '0'], ['--wait=-1s']]
  const runs = await Promise.all(bads.map(async (bad) => await runCli(['purge', '--redis', redis.url, ...bad, '/keep/0.txt'])))
  for (const [i, run] of runs.entries()) {
    t.equal(run.code, 2, bads[i].join(' '))
    t.match(run.stderr, /--wait/)
  }
  t.equal(await admin.xlen(logKey('podside:purge')), before)
  const help = await runCli(['purge', '--help'])
  t.match(help.stdout, /--wait \[<duration>\]/)
})

t.test('podside purge: a path that cannot fit in any message is exit 2 naming the limit', async (t) => {
  const run = await runCli(['purge', '--redis', redis.url, '/' + 'a'.repeat(70_000)])
  t.equal(run.code, 2)
  t.match(run.stderr, /cannot fit in a purge message \(65472 bytes at most\)/)
})

t.test('the fleet registry shows each file proxy\'s last purge id applied (podside status)', async (t) => {
  const run = await runCli(['purge', '--redis', redis.url, '--wait', '/keep/3.txt'])
  const id = /^purge (\S+) /.exec(run.stdout)?.[1]
  await waitFor('the next heartbeats to carry it', async () => {
    const status = await runCli(['status', '--redis', redis.url, '--json'])
    const nodes = (JSON.parse(status.stdout) as { nodes: Array<{ id: string, lastPurgeId: string | null }> }).nodes
    return [a, b].every((d) => nodes.find((n) => n.id === nodeId(d))?.lastPurgeId === id) ? true : undefined
  }, 15_000)
  const table = await runCli(['status', '--redis', redis.url])
  t.match(table.stdout, new RegExp(`${nodeId(a)} .*${id}`))
})
