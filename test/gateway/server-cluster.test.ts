import t from 'tap'
import { request } from 'undici'
import { createCookieApp } from '../../examples/cookie-app.js'
import { keySlot } from '../../gateway/store/slots.js'
import { Browser } from '../helpers/browser.js'
import { serve, startDaemon, type Daemon } from '../helpers/processes.js'
import { waitFor } from '../helpers/ports.js'
import { startCluster } from '../helpers/redis.js'

/**
 * Read-your-writes across gateways with the session cache on, under a real Redis Cluster of 3
 * masters with one replica each: two `podside gateway` processes, browsers writing through one and
 * reading through the other at once, while the slots of live sessions move between masters and a
 * master is killed (its replica takes over). A 200 answer with an older value is a stale read.
 */
const K1 = 'k1-0123456789abcdef0123456789abcdef'
const cluster = await startCluster(3, { replicas: 1 })
const app = await serve(createCookieApp())
const args = ['--upstream', app.url, '--redis', cluster.url, '--secret', K1, '--redis-timeout', '1s']
const a = await startDaemon('gateway', args)
const b = await startDaemon('gateway', args)
t.teardown(async () => {
  await Promise.all([a.stop(), b.stop()])
  await app.close()
  await cluster.close()
})

const subscribed = (d: Daemon): number => d.lines.filter((l) => l.msg === 'subscribed').length
async function cacheHits (d: Daemon): Promise<number> {
  const text = await (await request(`${d.adminUrl}/metrics`)).body.text()
  return Number(/podside_gateway_session_cache_lookups_total\{result="hit"\} (\d+)/.exec(text)?.[1] ?? 0)
}

interface User { browser: Browser, step: number, slot: number }
const stale: string[] = []

/** Asks until a gateway answers 200: while a master fails over, its sessions' requests get 503. */
async function ok (user: User, base: string, path: string): Promise<{ cookie: string }> {
  return await waitFor(`200 from ${base}${path}`, async () => {
    const res = await user.browser.get(base, path)
    return res.status === 200 ? res.json as { cookie: string } : undefined
  }, 30_000)
}

/** Read through b (cached there), write through a, read through b at once: b must see the write. */
async function round (user: User, what: string): Promise<void> {
  const before = await ok(user, b.url, '/whoami')
  if (!new RegExp(`(^|; )step=${user.step}(;|$)`).test(before.cookie)) stale.push(`${what}: before step ${user.step + 1}, b answered ${before.cookie}`)
  user.step++
  await ok(user, a.url, `/set?name=step&value=${user.step}`)
  const after = await ok(user, b.url, '/whoami')
  if (!new RegExp(`(^|; )step=${user.step}(;|$)`).test(after.cookie)) stale.push(`${what}: after step ${user.step}, b answered ${after.cookie}`)
}

const everyone = async (users: User[], what: string, rounds = 1): Promise<void> => {
  await Promise.all(users.map(async (u) => { for (let i = 0; i < rounds; i++) await round(u, what) }))
}

t.test('a write through one gateway is seen at once through the other across resharding and a master failover', async (t) => {
  await waitFor('both gateways to subscribe their shard channels', () => subscribed(a) >= 1 && subscribed(b) >= 1 ? true : undefined, 30_000)
  const users: User[] = []
  for (let i = 0; i < 12; i++) {
    const browser = new Browser()
    await ok({ browser, step: 0, slot: 0 }, a.url, '/set?name=step&value=0')
    const id = (browser.cookies.get('podside') as string).split('.')[0]
    users.push({ browser, step: 0, slot: keySlot(`podside:s:{${id}}`) })
  }
  const hits0 = await cacheHits(b)
  await everyone(users, 'warm-up', 3)
  t.ok(await cacheHits(b) > hits0, 'gateway b answers from its session cache')

  // Resharding: the slots of half the sessions move to another master, one by one. Between the
  // keys' move and the slot's new owner, scripts run on the target by ASK (no listener there yet).
  const masters = await cluster.masters()
  for (const user of users.slice(0, 6)) {
    const from = await cluster.ownerOf(user.slot)
    const to = masters[(masters.indexOf(from) + 1) % masters.length]
    await cluster.moveSlot(user.slot, to, async () => {
      await round(user, `slot ${user.slot} migrating`)
      await round(user, `slot ${user.slot} migrating`)
    })
    t.equal(await cluster.ownerOf(user.slot), to, `slot ${user.slot} moved`)
    await Promise.all([round(user, `slot ${user.slot} moved`), everyone(users.filter((u) => u !== user), 'during resharding')])
  }
  await everyone(users, 'after resharding', 2)

  // Failover: kill the master that serves the most sessions once its replica holds every write.
  const owners = await Promise.all(users.map(async (u) => await cluster.ownerOf(u.slot)))
  const victim = masters.map((m) => [m, owners.filter((o) => o === m).length]).sort((x, y) => y[1] - x[1])[0][0]
  await cluster.replicaCaughtUp(victim)
  const subscribedBefore = subscribed(b)
  await cluster.kill(victim)
  await everyone(users, 'during failover')
  await cluster.settled()
  t.not(await cluster.ownerOf(users[owners.indexOf(victim)].slot), victim, 'the replica took over')
  await waitFor('gateway b to subscribe again', () => subscribed(b) > subscribedBefore ? true : undefined, 30_000)
  const hits1 = await cacheHits(b)
  await everyone(users, 'after failover', 3)
  t.ok(await cacheHits(b) > hits1, 'gateway b answers from its session cache again')

  t.same(stale, [], 'no stale read')
  t.ok(b.lines.some((l) => l.msg === 'session invalidations lost: the session cache is off until they are back'), 'b noticed its lost subscriptions')
})
