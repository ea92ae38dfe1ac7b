import http from 'node:http'
import t from 'tap'
import { Pool } from 'undici'
import { serve, startDaemon, type Daemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { waitFor } from '../helpers/ports.js'

/**
 * A roll-out as a balancer sees it: two gateways on one Redis behind a round-robin balancer that
 * polls each one's /readyz and leaves out those not ready, and that retries a request another
 * gateway gets when a connection is refused (nginx's `proxy_next_upstream error`). SIGTERM to one
 * gateway while a steady load runs: not one request may fail.
 */
const SECRET = 'rolling-restart-secret-0123456789abcdef'
const redis = await startRedis()
const app = await serve(http.createServer((req, res) => {
  res.writeHead(200, req.url === '/login' ? { 'set-cookie': 'sid=1; Path=/' } : {}).end('ok')
}))
t.teardown(async () => { await app.close(); await stopRedis(redis) })

interface Backend { gw: Daemon, pool: Pool, ready: boolean }

async function balancer (backends: Backend[]) {
  let turn = 0
  // Readiness polled every 50 ms, as a load balancer's health check would (faster, for the test).
  const poll = setInterval(() => {
    for (const b of backends) {
      fetch(`${b.gw.adminUrl}/readyz`).then((r) => { b.ready = r.status === 200 }, () => { b.ready = false })
    }
  }, 50)
  const server = http.createServer((req, res) => {
    // Ready gateways first; the others only as a last resort (nginx, too, tries a server marked down when none is up).
    const ready = backends.filter((b) => b.ready)
    const start = ready.length === 0 ? 0 : turn % ready.length
    const order = [...ready.slice(start), ...ready.slice(0, start), ...backends.filter((b) => !b.ready)]
    const tryNext = (i: number): void => {
      if (i >= order.length) { res.writeHead(502).end('no gateway'); return }
      const b = order[i]
      b.pool.request({ method: 'GET', path: req.url ?? '/', headers: { cookie: req.headers.cookie ?? '' } })
        .then(async (up) => {
          res.writeHead(up.statusCode, { 'set-cookie': up.headers['set-cookie'] ?? [] })
          res.end(await up.body.text())
        }, (err: NodeJS.ErrnoException) => {
          // A connection the gateway refused never reached it: safe to send elsewhere.
          if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'UND_ERR_SOCKET') tryNext(i + 1)
          else res.writeHead(502).end(String(err.code))
        })
    }
    turn++
    tryNext(0)
  })
  const s = await serve(server)
  t.teardown(async () => { clearInterval(poll); await s.close() })
  return s.url
}

t.test('SIGTERM to one gateway under a steady load through a readiness-checking balancer fails no request', async (t) => {
  const args = ['--upstream', app.url, '--redis', redis.url, '--secret', SECRET, '--shutdown-timeout', '5s']
  const backends: Backend[] = (await Promise.all([startDaemon('gateway', args), startDaemon('gateway', args)]))
    .map((gw) => ({ gw, pool: new Pool(gw.url), ready: true }))
  t.teardown(async () => { for (const b of backends) { await b.pool.close(); await b.gw.stop() } })
  const url = await balancer(backends)
  const login = await fetch(`${url}/login`)
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]
  t.match(cookie, /^podside=/)

  let stop = false
  let sent = 0
  const failures: string[] = []
  const worker = async (): Promise<void> => {
    while (!stop) {
      sent++
      const r = await fetch(`${url}/page`, { headers: { cookie } }).catch((err: Error) => ({ status: 0, text: async () => err.message }))
      if (r.status !== 200) failures.push(`${r.status} ${await r.text()}`)
    }
  }
  const workers = Array.from({ length: 8 }, async () => await worker())
  await waitFor('load to run through both gateways', () => sent > 200 ? true : undefined)
  const exited = new Promise<number | null>((resolve) => backends[0].gw.child.once('exit', resolve))
  backends[0].gw.child.kill('SIGTERM')
  t.equal(await exited, 0, 'the gateway drained and exited 0')
  const after = sent
  await waitFor('load to go on through the other gateway', () => sent > after + 200 ? true : undefined)
  stop = true
  await Promise.all(workers)
  t.same(failures, [], `${sent} requests, none failed`)
})
