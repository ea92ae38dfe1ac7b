import t from 'tap'
import { parseRedisUrl, redact } from '../../shared/redis-url.js'

t.test('redis:// and rediss:// with credentials and database', async (t) => {
  t.match(parseRedisUrl('redis://127.0.0.1:6379'), { mode: 'standalone', tls: false, host: '127.0.0.1', port: 6379, db: 0 })
  t.match(parseRedisUrl('rediss://user:p%40ss@cache.internal:6380/3'), { mode: 'standalone', tls: true, username: 'user', password: 'p@ss', db: 3 })
  t.match(parseRedisUrl('redis://:secret@[::1]:6379'), { host: '::1', password: 'secret', username: undefined })
})

t.test('redis-sentinel:// with a host list, master name and options', async (t) => {
  t.match(parseRedisUrl('redis-sentinel://u:pw@s1:26379,s2:26379/mymaster?db=2&sentinelPassword=sp'), {
    mode: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], masterName: 'mymaster', db: 2,
    username: 'u', password: 'pw', sentinelPassword: 'sp'
  })
  t.match(parseRedisUrl('rediss-sentinel://s1:26379/m'), { tls: true })
  t.type(parseRedisUrl('redis-sentinel://s1:26379'), 'string', 'the master name is required')
})

t.test('redis-cluster:// with a seed list', async (t) => {
  t.match(parseRedisUrl('redis-cluster://n1:7000,n2:7001,n3:7002'), { mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }, { host: 'n3', port: 7002 }] })
  t.type(parseRedisUrl('redis-cluster://n1:7000/1'), 'string', 'Cluster has no database number')
})

t.test('bad addresses say what was expected', async (t) => {
  for (const bad of ['localhost:6379', 'http://x:1', 'redis://a:1,b:2', 'redis://a:99999', 'redis://a:', 'redis://a b']) t.type(parseRedisUrl(bad), 'string', bad)
})

t.test('without a port, Redis\' own: 6379, and 26379 for Sentinels (as compose files write redis://redis)', async (t) => {
  t.match(parseRedisUrl('redis://redis'), { mode: 'standalone', host: 'redis', port: 6379 })
  t.match(parseRedisUrl('rediss://u:p@cache/2'), { mode: 'standalone', host: 'cache', port: 6379, db: 2, tls: true })
  t.match(parseRedisUrl('redis-sentinel://s1,s2:26380/mymaster'), { sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }] })
  t.match(parseRedisUrl('redis-cluster://n1,n2'), { nodes: [{ host: 'n1', port: 6379 }, { host: 'n2', port: 6379 }] })
})

t.test('passwords are redacted for logs', async (t) => {
  t.equal(redact('redis://user:hunter2@h:1'), 'redis://user:***@h:1')
  t.equal(redact('redis://hunter2@h:1'), 'redis://***@h:1')
  t.equal(redact('redis-sentinel://s:1/m?sentinelPassword=hunter2&db=1'), 'redis-sentinel://s:1/m?sentinelPassword=***&db=1')
})

t.test('regression: a Sentinel master name is not read as a database number', async (t) => {
  t.match(parseRedisUrl('redis-sentinel://s1:26379/mymaster'), { mode: 'sentinel', masterName: 'mymaster', db: 0 })
})
