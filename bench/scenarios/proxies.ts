import { request } from 'undici'
import { pairedFixedRate } from '../lib/load.js'
import { BEFORE_CLI, BEFORE, CLI, QUIET, type Harness, type Target } from '../lib/harness.js'
import { nginxProxy } from '../lib/nginx.js'
import { freePort, startRedis, startServer } from '../lib/processes.js'

/** The saturated proxy scenario; the equal-load rate is derived from its http-proxy row. */
const SATURATED = 'proxy 1 KiB, saturated'

/** The gateway against http-proxy, a bare undici pass-through and nginx proxy_pass. */
export async function proxies (h: Harness, hasNginx: boolean): Promise<void> {
  const { cleanups, notes, peer, urlOf, scenario } = h
  const upstream = await peer('upstream', 'upstream')
  const direct: Target = { label: 'upstream directly', podside: false, server: upstream, url: urlOf(upstream) }
  const redis = await startRedis()
  if (redis !== undefined) cleanups.push(redis.stop)
  else notes.push('redis-server is not installed: the gateway runs on its in-memory store')
  const redisUrl = redis?.url
  // At its defaults (access log at info, to a drained pipe), and a second one at --log-level warn
  // sharing its Redis and secret, so one login's cookie holds on both.
  const gateway = async (port: number, cli: string, ...extra: string[]) => {
    const s = await startServer('podside gateway', process.execPath, [cli, 'gateway', '--upstream', direct.url, '--listen', `127.0.0.1:${port}`,
      '--admin-listen', '127.0.0.1:0', ...extra, ...redisUrl === undefined ? [] : ['--redis', redisUrl, '--secret', 'b'.repeat(32)]], port, {}, 'drain')
    cleanups.push(s.stop)
    return s
  }
  const [gwPort, quietPort, beforePort] = [await freePort(), await freePort(), await freePort()]
  const [gw, quiet, before] = await Promise.all([gateway(gwPort, CLI), gateway(quietPort, CLI, '--log-level', 'warn'),
    BEFORE_CLI === undefined ? undefined : gateway(beforePort, BEFORE_CLI)])
  const gwUrl = `http://127.0.0.1:${gwPort}`
  const login = await request(gwUrl + '/set3')
  await login.body.dump()
  const cookie = String([login.headers['set-cookie']].flat()[0]).split(';')[0]
  const withSession: Target = { label: `podside gateway, session (3-cookie jar, ${redisUrl === undefined ? 'memory' : 'Redis'})`, podside: true, server: gw, url: gwUrl, headers: { cookie } }
  const quietSession: Target = { ...withSession, label: `${withSession.label} ${QUIET}`, server: quiet, url: `http://127.0.0.1:${quietPort}` }
  const noSession: Target = { label: 'podside gateway, no session', podside: true, server: gw, url: gwUrl }
  const beforeSession: Target[] = before === undefined ? [] : [{ ...withSession, label: `${withSession.label} ${BEFORE}`, server: before, url: `http://127.0.0.1:${beforePort}` }]
  const [hp, ud] = await Promise.all([peer('http-proxy', 'http-proxy', direct.url), peer('undici pass-through', 'undici-proxy', direct.url)])
  const targets: Target[] = [direct, { label: 'http-proxy', podside: false, server: hp, url: urlOf(hp) }, withSession, quietSession, ...beforeSession, noSession,
    { label: 'undici pass-through', podside: false, server: ud, url: urlOf(ud) }]
  if (hasNginx) {
    const [n, off] = await Promise.all([nginxProxy(direct.url), nginxProxy(direct.url, false)])
    cleanups.push(n.stop, off.stop)
    targets.push({ label: 'nginx proxy_pass (keepalive)', podside: false, server: n, url: n.url },
      { label: 'nginx proxy_pass (keepalive), access_log off', podside: false, server: off, url: off.url })
  }
  await scenario(SATURATED, targets, '/')
  const rate = equalRate(h)
  await scenario(`proxy 1 KiB, equal load (${rate} req/s)`, targets.filter((t) => t !== direct), '/', { rate })
  const fixed = [withSession, quietSession, ...beforeSession, noSession, ...targets.filter((t) => t.label.startsWith('http-proxy') || t.label.startsWith('nginx'))]
  await scenario('proxy 1 KiB at 1,000 req/s', [direct, ...fixed], '/', { rate: 1000 })
  await addedLatencies(h, direct, fixed)
}

/**
 * Saturated, CPU per request favours the slower server: each of its wake-ups finds more requests
 * waiting, so it pays the event loop's fixed costs over more of them. Offered the same rate, every
 * proxy meets the same arrivals. The rate is half what http-proxy (the slowest proxy here) reached
 * saturated in this run, in steps of 500, so every proxy keeps up and the loader does too.
 */
function equalRate (h: Harness): number {
  const hp = h.rows.find((r) => r.scenario === SATURATED && r.server === 'http-proxy')
  return Math.max(1000, Math.floor((hp?.rps ?? 2000) / 2 / 500) * 500)
}

/**
 * The latency each proxy adds over the app reached directly at 1,000 req/s (the issue's ≤ 1 ms p99
 * bar), measured in pairs (see pairedFixedRate). Pinning the loader to one core and the servers to
 * the other was tried: on 2 cores it queued the servers behind each other and made it worse.
 */
async function addedLatencies (h: Harness, direct: Target, proxies: Target[]): Promise<void> {
  const { quick, PAIRED_SECONDS, added } = h
  for (const t of proxies) {
    if (!quick) await pairedFixedRate(direct.url + '/', t.url + '/', { seconds: 1, rate: 1000, viaHeaders: t.headers }) // warm-up
    const r = await pairedFixedRate(direct.url + '/', t.url + '/', { seconds: PAIRED_SECONDS, rate: 1000, viaHeaders: t.headers })
    added.push({ server: t.label, ...r })
    process.stderr.write(`  added latency / ${t.label}: +${(r.via.p50 - r.direct.p50).toFixed(3)} ms p50, +${(r.via.p99 - r.direct.p99).toFixed(3)} ms p99\n`)
  }
}
