import t from 'tap'
import { lazyChild } from '../../shared/logger.js'
import { capturingLogger } from '../helpers/log.js'

t.test('lazyChild makes the child on first use, with its bindings, and redaction still applies', async (t) => {
  const { log, lines } = capturingLogger()
  let made = 0
  const child = log.child.bind(log)
  log.child = ((...args: Parameters<typeof log.child>) => { made++; return child(...args) }) as typeof log.child
  const req = lazyChild(log, { reqId: 7 })
  t.equal(made, 0, 'nothing logged, no child made')
  req.warn({ headers: { cookie: 'sid=secret' } }, 'odd request')
  req.info('second line')
  t.equal(made, 1, 'one child, made once')
  await new Promise((resolve) => setImmediate(resolve))
  t.match(lines, [{ reqId: 7, msg: 'odd request', headers: { cookie: '[redacted]' } }, { reqId: 7, msg: 'second line' }])
  t.equal(req.isLevelEnabled('debug'), false, 'other logger methods work too')
})
