import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import { request } from 'undici'
import type { FleetView } from '../../shared/fleet/read-fleet.js'
import { runCli } from '../helpers/cli.js'
import { freePort, waitFor } from '../helpers/ports.js'
import { serve, startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * `podside status` and `GET /v1/nodes` with real processes: two gateways and two file proxies on
 * one real redis-server. The daemons heartbeat every second here (an undocumented test setting),
 * so a killed node is missing after 3 s instead of 15 s. Waits poll GET /v1/nodes (cheap); the
 * command runs once the list is as expected.
 */
const root = mkdtempSync(join(tmpdir(), 'podside-fleet-'))
writeFileSync(join(root, 'a.txt'), 'hello fleet')
const redis = await startRedis()
const app = await serve(http.createServer((_req, res) => res.end('app')))
const env = { PODSIDE_FLEET_HEARTBEAT: '1s' }
const secret = 'fleet-test-secret-0123456789abcdef0123456789'
const gateway = async (): Promise<Daemon> => await startDaemon('gateway', ['--upstream', app.url, '--redis', redis.url, '--secret', secret], env)
const fileproxy = async (): Promise<Daemon> => await startDaemon('fileproxy', ['--root', root, '--redis', redis.url], env)
// One at a time: four node processes starting at once on a busy machine can take long to listen.
const g1 = await gateway()
const g2 = await gateway()
const f1 = await fileproxy()
const f2 = await fileproxy()
t.teardown(async () => {
  await Promise.all([g1, g2, f1, f2].map(async (d) => await d.stop('SIGKILL')))
  await app.close()
  await stopRedis(redis)
  rmSync(root, { recursive: true, force: true })
})

const status = async (...args: string[]) => await runCli(['status', '--redis', redis.url, ...args])
const statusJson = async (): Promise<{ code: number | null, view: FleetView, stderr: string }> => {
  const r = await status('--json')
  return { code: r.code, view: JSON.parse(r.stdout) as FleetView, stderr: r.stderr }
}
const nodes = async (d: Daemon): Promise<FleetView> => {
  const res = await request(`${d.adminUrl}/v1/nodes`)
  if (res.statusCode !== 200) throw new Error(`GET /v1/nodes answered ${res.statusCode}: ${await res.body.text()}`)
  return await res.body.json() as FleetView
}
const byUrl = (view: FleetView): Record<string, string | null> => Object.fromEntries(view.nodes.map((n) => [n.url, n.role]))
const all = { [g1.url]: 'gateway', [g2.url]: 'gateway', [f1.url]: 'fileproxy', [f2.url]: 'fileproxy' }

t.test('status: every daemon started with --redis is listed with its role, as a table and as JSON', async (t) => {
  await waitFor('four live nodes', async () => (await nodes(g1)).live === 4 ? true : undefined)
  const { code, view } = await statusJson()
  t.equal(code, 0)
  t.same(byUrl(view), all)
  t.same([view.live, view.missing], [4, 0])
  for (const [d, role] of [[g1, 'gateway'], [f1, 'fileproxy']] as const) {
    const n = view.nodes.find((n) => n.url === d.url)!
    t.match(n, { role, state: 'live', adminUrl: d.adminUrl, pid: d.child.pid, version: /^\d+\.\d+\.\d+/, hostname: String })
    t.match(n.id, /^[0-9a-f]{12}$/)
  }
  const table = await status()
  t.equal(table.code, 0)
  const lines = table.stdout.trimEnd().split('\n')
  t.equal(lines.length, 5, 'a header, then one node per line')
  t.match(lines[0], /^NODE\s+ROLE\s+STATE\s+HOST/)
  for (const d of [g1, g2, f1, f2]) {
    const line = lines.find((l) => l.includes(d.url))
    t.ok(line, `${d.url} has its line`)
    t.match(line, new RegExp(`\\b${all[d.url]}\\s+live\\b`))
  }
})

t.test('status: GET /v1/nodes on any admin listener answers the same list', async (t) => {
  for (const d of [g2, f2]) {
    const view = await waitFor('four live nodes', async () => { const v = await nodes(d); return v.live === 4 ? v : undefined })
    t.same(byUrl(view), all, `from ${d.adminUrl}`)
  }
})

t.test('status: live figures come from the daemons\' own counters', async (t) => {
  for (let i = 0; i < 3; i++) t.equal((await request(`${f1.url}/a.txt`)).statusCode, 200)
  const fp = await waitFor('the file proxy to report its cache', async () => {
    const n = (await nodes(g1)).nodes.find((n) => n.url === f1.url)
    return n !== undefined && n.cacheBytes !== null && n.cacheBytes > 0 ? n : undefined
  })
  t.type(fp.requestsPerSecond, 'number')
  t.equal(fp.sessionsCached, null)
  const gw = (await nodes(g1)).nodes.find((n) => n.url === g1.url)!
  t.type(gw.sessionsCached, 'number', 'the gateway reports its session cache')
  t.equal(gw.cacheBytes, null)
})

t.test('status: a node stopped cleanly leaves the list without making status fail', async (t) => {
  t.equal(await g2.stop('SIGTERM'), 0)
  // Polls until the list settles: under load a live node's heartbeat may be late for a moment.
  await waitFor('three live nodes', async () => {
    const v = await nodes(g1)
    return v.nodes.length === 3 && v.live === 3 ? true : undefined
  })
  const { code, view } = await statusJson()
  t.equal(code, 0)
  t.same([view.live, view.missing], [3, 0])
  t.notOk(view.nodes.some((n) => n.url === g2.url))
})

t.test('status: a killed node leaves the live list and makes status exit 1', async (t) => {
  await f2.stop('SIGKILL')
  await waitFor('the killed node to be missing', async () => {
    const v = await nodes(g1)
    return v.missing === 1 && v.live === 2 && v.nodes.find((n) => n.url === f2.url)?.state === 'missing' ? true : undefined
  })
  const { code, view, stderr } = await statusJson()
  t.equal(code, 1)
  const gone = view.nodes.find((n) => n.url === f2.url)!
  t.equal(gone.state, 'missing')
  t.match(stderr, new RegExp(`1 node stopped heartbeating: ${gone.id} \\(fileproxy on `))
  t.equal(view.live, 2)
  const table = await status()
  t.equal(table.code, 1)
  t.match(table.stdout, new RegExp(`${gone.id}\\s+fileproxy\\s+missing`))
  const fromAdmin = await nodes(g1)
  t.same(fromAdmin.nodes.filter((n) => n.state === 'live').map((n) => n.url).sort(), [g1.url, f1.url].sort())
})

t.test('status: bad input exits 2 naming the setting', async (t) => {
  const [bad, none, extra] = await Promise.all([runCli(['status', '--redis', 'http://127.0.0.1:6379']), runCli(['status']), status('now')])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--redis: expected a scheme/)
  t.equal(none.code, 2)
  t.match(none.stderr, /--redis \(PODSIDE_REDIS, REDIS_URL\) is required/)
  t.equal(extra.code, 2)
  t.match(extra.stderr, /unexpected argument "now"/)
})

t.test('status: Redis unreachable exits 1 with one clear line', async (t) => {
  const port = await freePort()
  const r = await runCli(['status', '--redis', `redis://127.0.0.1:${port}`, '--timeout', '500ms'])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  t.equal(r.stderr.trimEnd().split('\n').length, 1)
  t.match(r.stderr, `podside status: cannot reach Redis at redis://127.0.0.1:${port}`)
})

t.test('status: without --redis there is no fleet, and /v1/nodes says so', async (t) => {
  const alone = await startDaemon('fileproxy', ['--root', root])
  t.teardown(async () => await alone.stop())
  const res = await request(`${alone.adminUrl}/v1/nodes`)
  t.equal(res.statusCode, 404)
  t.match(await res.body.json(), { error: { code: 'FLEET_ERR_NO_REDIS' } })
})
