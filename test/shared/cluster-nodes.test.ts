import t from 'tap'
import { createChannelSubscriber } from '../../shared/channel-subscriber.js'
import { clusterNodes } from '../../shared/cluster-nodes.js'
import { parseRedisUrl, type RedisTarget } from '../../shared/redis-url.js'
import { capturingLogger } from '../helpers/log.js'
import { freePort, waitFor } from '../helpers/ports.js'
import { ask, startCluster } from '../helpers/redis.js'

/**
 * shared/cluster-nodes.ts and the channel subscriber under a real 3-master Redis Cluster (no
 * replicas): the subscription sits on the master serving a chosen key, and moves to another
 * node, with onLost and onSubscribed(true), when that master is killed.
 */
const cluster = await startCluster(3)
t.teardown(async () => await cluster.close())
const target = parseRedisUrl(cluster.url) as Extract<RedisTarget, { mode: 'cluster' }>

/** The port of the master serving `key`, as CLUSTER SHARDS… as the node that owns it says (no MOVED). */
async function ownerOf (key: string): Promise<number> {
  for (const port of cluster.ports) {
    try {
      await ask(port, async (c) => await c.call('EXISTS', key))
      return port
    } catch { /* MOVED: another node serves it */ }
  }
  throw new Error('no owner')
}

t.test('clusterNodes: every node, and the master serving the key; a dead seed is skipped', async (t) => {
  const dead = { host: '127.0.0.1', port: await freePort() }
  const found = await clusterNodes(target, [dead, ...target.nodes], 'podside:purge:log', 1000)
  t.same(found.all.map((n) => n.port).sort(), [...cluster.ports].sort())
  t.same(found.master, { host: '127.0.0.1', port: await ownerOf('podside:purge:log') })
})

t.test('clusterNodes: throws when no node answers', async (t) => {
  await t.rejects(clusterNodes(target, [{ host: '127.0.0.1', port: await freePort() }], 'k', 500))
  await t.rejects(clusterNodes(target, [], 'k', 500), /no Cluster node to ask/)
})

t.test('subscriber under Cluster: on the master of preferKey; killed, it is lost and subscribed again elsewhere, and hears the next message', async (t) => {
  const { log } = capturingLogger()
  const events: string[] = []
  const messages: string[] = []
  const sub = createChannelSubscriber(target, {
    channel: 'test:cluster:chan',
    preferKey: 'podside:purge:log',
    timeoutMs: 500,
    log,
    paced: true,
    onMessage: (m) => messages.push(m),
    onSubscribed: (again) => events.push(again ? 'subscribed again' : 'subscribed'),
    onLost: () => events.push('lost')
  })
  t.teardown(async () => await sub.close())
  await waitFor('the subscription', () => sub.ready ? true : undefined)
  const owner = await ownerOf('podside:purge:log')
  const where = await Promise.all(cluster.ports.map(async (p) => (await ask(p, async (c) => await c.call('PUBSUB', 'NUMSUB', 'test:cluster:chan') as [string, number]))[1]))
  t.same(where, cluster.ports.map((p) => p === owner ? 1 : 0), 'on the master serving the key')
  const other = cluster.ports.find((p) => p !== owner)!
  await ask(other, async (c) => await c.publish('test:cluster:chan', 'one'))
  // The cluster bus forwards a PUBLISH after the publishing node answered: a PING on the
  // subscriber's own connection does not order after it, so wait for the message itself.
  await waitFor('the message over the cluster bus', () => messages.length > 0 ? true : undefined)
  t.same(messages, ['one'], 'a PUBLISH on another node reaches it (Cluster broadcast)')

  await cluster.kill(owner)
  await waitFor('subscribed again', () => events.includes('subscribed again') ? true : undefined, 20_000)
  t.same(events.slice(0, 3), ['subscribed', 'lost', 'subscribed again'])
  await waitFor('the next message', async () => {
    await ask(other, async (c) => await c.publish('test:cluster:chan', 'two'))
    await sub.sync()
    return messages.includes('two') ? true : undefined
  })
  t.pass('it hears messages again')
})
