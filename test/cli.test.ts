import net from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { runCli } from './helpers/cli.js'
import { startDaemon } from './helpers/processes.js'
import { waitFor } from './helpers/ports.js'
import http from 'node:http'
import { serve } from './helpers/processes.js'

/** Start-up and shutdown as operators expect, through the real CLI. */
/** `/slow` is answered when the test says so (`release`), and says when it arrived (`arrived`). */
let arrived: () => void = () => {}
let release: () => void = () => {}
const app = await serve(http.createServer((req, res) => {
  if (req.url === '/slow') { arrived(); release = () => res.end('slow'); return }
  res.end('ok')
}))
t.teardown(async () => await app.close())

t.test('an admin listener off loopback without --admin-token exits 2 naming the setting', async (t) => {
  for (const [cmd, extra] of [['gateway', ['--upstream', app.url]], ['fileproxy', ['--root', '.']]] as const) {
    const r = await runCli([cmd, ...extra, '--listen', '127.0.0.1:0', '--admin-listen', '0.0.0.0:0'])
    t.equal(r.code, 2, cmd)
    t.match(r.stderr, /--admin-token \(PODSIDE_ADMIN_TOKEN\) is required: --admin-listen 0\.0\.0\.0:0 is not a loopback address/)
  }
})

t.test('a taken port ends the process with exit 1 and one line naming the setting and the address', async (t) => {
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => await new Promise<void>((resolve) => taken.close(() => resolve())))
  const port = (taken.address() as net.AddressInfo).port
  for (const which of ['--listen', '--admin-listen']) {
    const ports = which === '--listen' ? [`127.0.0.1:${port}`, '127.0.0.1:0'] : ['127.0.0.1:0', `127.0.0.1:${port}`]
    const r = await runCli(['gateway', '--upstream', app.url, '--listen', ports[0], '--admin-listen', ports[1]])
    t.equal(r.code, 1, which)
    t.equal(r.stderr.trim(), `podside gateway: cannot listen on ${which} 127.0.0.1:${port}: the address is in use`)
    t.notMatch(r.stderr + r.stdout, /\n\s+at /, 'no stack trace')
  }
})

t.test('secrets never appear in a message, valid or not', async (t) => {
  const bad = await runCli(['gateway', '--upstream', app.url, '--redis', 'redis://u:TOPSECRETPW@bad host:1', '--secret', 'short-SECRETKEY',
    '--admin-token', 'TOKENSECRET'])
  t.equal(bad.code, 2)
  t.notMatch(bad.stderr + bad.stdout, /TOPSECRETPW|SECRETKEY|TOKENSECRET/)
  t.match(bad.stderr, /--redis: expected .*got "redis:\/\/u:\*\*\*@bad host:1"/)
  const ok = await runCli(['gateway', '--upstream', app.url, '--redis', 'redis://u:TOPSECRETPW@redis', '--secret', 'x'.repeat(32) + 'SECRETKEY',
    '--admin-token', 'TOKENSECRET-long-enough', '--check-config'])
  t.equal(ok.code, 0)
  t.notMatch(ok.stdout, /TOPSECRETPW|SECRETKEY|TOKENSECRET/)
  t.match(ok.stdout, /--admin-token = set \(23 characters\)/)
})

t.test('redis://host means port 6379 (26379 for a Sentinel), as compose files write it', async (t) => {
  const r = await runCli(['gateway', '--upstream', app.url, '--redis', 'redis://redis', '--secret', 'x'.repeat(32), '--check-config'])
  t.equal(r.code, 0)
  t.match(r.stdout, /--redis = redis:\/\/redis /)
  const s = await runCli(['fileproxy', '--root', '.', '--redis', 'redis-sentinel://s1,s2:26380/mymaster', '--check-config'])
  t.equal(s.code, 0, s.stderr)
})

t.test('--check-config says where each value came from', async (t) => {
  const r = await runCli(['gateway', '--upstream', app.url, '--check-config'], { PODSIDE_IDLE_TIMEOUT: '15m', REDIS_URL: 'redis://cache:6380', PODSIDE_SECRET: 'y'.repeat(32) })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /--upstream = .*\(from --upstream;/)
  t.match(r.stdout, /--idle-timeout = 15m\s+\(from PODSIDE_IDLE_TIMEOUT;/)
  t.match(r.stdout, /--redis = redis:\/\/cache:6380\s+\(from REDIS_URL;/)
  t.match(r.stdout, /--listen = 0\.0\.0\.0:8080\s+\(from the default;/)
})

t.test('/readyz answers 503 from the moment a drain starts, while requests in flight finish', async (t) => {
  const gw = await startDaemon('gateway', ['--upstream', app.url])
  const reached = new Promise<void>((resolve) => { arrived = resolve })
  const slow = request(`${gw.url}/slow`)
  await reached
  const exited = new Promise<number | null>((resolve) => gw.child.once('exit', resolve))
  gw.child.kill('SIGTERM')
  await waitFor('/readyz to answer 503', async () => {
    const r = await request(`${gw.adminUrl}/readyz`).catch(() => undefined)
    if (r === undefined) return undefined
    await r.body.text()
    return r.statusCode === 503 ? true : undefined
  })
  release()
  const res = await slow
  t.equal(await res.body.text(), 'slow', 'the request in flight was answered')
  t.equal(await exited, 0)
})
