import http from 'node:http'
import t from 'tap'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { waitFor } from '../helpers/ports.js'
import { serve, startDaemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

/**
 * Redis swallowing packets (a black hole, not a refused connection) under a real gateway: every
 * request gets its 503 in time, and a request answered 503 leaves nothing behind once the network
 * heals (commands queued towards the silent Redis are dropped, not run late).
 */
const redis = await startRedis()
const relay = await startTcpProxy(redis.port)
const direct = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: false })
const app = await serve(http.createServer((req, res) => {
  res.writeHead(200, req.url?.startsWith('/login') === true ? { 'set-cookie': 'sid=1' } : {}).end('ok')
}))
t.teardown(async () => { direct.disconnect(); await app.close(); await relay.close(); await stopRedis(redis) })

const sessionKeys = async (): Promise<number> => (await direct.keys('podside:s:*')).length

t.test('logins answered 503 while Redis is a black hole create no session when it comes back', async (t) => {
  const gw = await startDaemon('gateway', ['--upstream', app.url, '--redis', `redis://127.0.0.1:${relay.port}`, '--secret', 's'.repeat(32),
    '--redis-timeout', '300ms', '--session-cache-size', '0'])
  t.teardown(async () => await gw.stop())
  const first = await request(`${gw.url}/login`)
  await first.body.text()
  t.equal(first.statusCode, 200)
  t.equal(await sessionKeys(), 1)

  relay.stall()
  const statuses: number[] = []
  for (let wave = 0; wave < 5; wave++) {
    const answers = await Promise.all(Array.from({ length: 10 }, async () => {
      const res = await request(`${gw.url}/login`)
      await res.body.text()
      return res.statusCode
    }))
    statuses.push(...answers)
  }
  t.same([...new Set(statuses)], [503], 'every login during the black hole is answered 503')

  relay.restore()
  await waitFor('the gateway to be ready again', async () => {
    const res = await request(`${gw.adminUrl}/readyz`)
    await res.body.text()
    return res.statusCode === 200 ? true : undefined
  }, 15_000)
  const after = await request(`${gw.url}/login`)
  await after.body.text()
  t.equal(after.statusCode, 200, 'served again after the network healed')
  t.equal(await sessionKeys(), 2, 'only the logins answered 200 left a session')
  t.equal(gw.child.exitCode, null)
})
