import t from 'tap'
import net from 'node:net'
import { connectShard, parse } from '../../../gateway/store/shard-connection.js'
import { startRedis, stopRedis } from '../../helpers/redis.js'

const noop = { onMessage () {}, onUnsubscribed () {}, onClose () {} }

t.test('RESP values parse whole, and wait for the rest when cut anywhere', async (t) => {
  const text = '*3\r\n$8\r\nsmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n+OK\r\n-ERR no\r\n:42\r\n$-1\r\n*-1\r\n'
  const buf = Buffer.from(text)
  const all: unknown[] = []
  let at = 0
  for (;;) {
    const r = parse(buf, at)
    if (r === undefined) break
    all.push(r[0])
    at = r[1]
  }
  t.same(all.slice(0, 2), [['smessage', 'ch1', 'hello'], 'OK'])
  t.match(all[2], Error)
  t.same(all.slice(3), [42, null, null])
  t.equal(at, buf.length)
  for (let cut = 1; cut < 30; cut++) t.equal(parse(buf.subarray(0, cut), 0), undefined, `cut at ${cut}`)
  t.throws(() => parse(Buffer.from('?what\r\n'), 0), /not RESP/)
})

t.test('against a real server: AUTH, messages before the PING\'s answer, a refused subscription', async (t) => {
  const server = await startRedis()
  t.teardown(async () => await stopRedis(server))
  const admin = server.client()
  await t.rejects(connectShard({ host: '127.0.0.1', port: server.port, password: 'nope', timeoutMs: 2000, ...noop }), /AUTH|password/i)
  await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', 'resetchannels', '+@all', '~*')
  await admin.config('SET', 'requirepass', 's3cret')
  await admin.auth('s3cret')
  const messages: string[] = []
  const conn = await connectShard({ host: '127.0.0.1', port: server.port, password: 's3cret', timeoutMs: 2000, ...noop, onMessage: (_c, m) => messages.push(m) })
  t.teardown(() => conn.close())
  t.equal(conn.open, true)
  await conn.ssubscribe('ch')
  await admin.call('SPUBLISH', 'ch', 'one')
  await conn.ping()
  t.same(messages, ['one'], 'the message arrived before the PING\'s answer')
  const limited = await connectShard({ host: '127.0.0.1', port: server.port, username: 'limited', password: 'pw', timeoutMs: 2000, ...noop })
  t.teardown(() => limited.close())
  await t.rejects(limited.ssubscribe('ch'), /NOPERM/, 'an error answer rejects that subscription only')
  await limited.ping()
  limited.close()
  t.equal(limited.open, false)
  await t.rejects(limited.ping(), /closed/)
})

t.test('a server that stops answering is cut after the timeout, and the close is reported', async (t) => {
  // A listener that accepts and never answers: a hung master.
  const silent = net.createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => silent.close())
  const { port } = silent.address() as net.AddressInfo
  let closed = 0
  const conn = await connectShard({ host: '127.0.0.1', port, timeoutMs: 100, ...noop, onClose: () => { closed++ } }).catch((err: Error) => err)
  // CLIENT SETNAME is not answered: the connection is cut before it is handed out.
  t.match(conn, Error)
  t.equal(closed, 0, 'never open: no close reported')
  await t.rejects(connectShard({ host: '127.0.0.1', port: 1, timeoutMs: 500, ...noop }), /could not connect/)
})
