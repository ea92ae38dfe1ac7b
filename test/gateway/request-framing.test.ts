import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { hasCode } from '../../shared/errors.js'
import { checkFraming } from '../../gateway/request-framing.js'

const withTe = (te?: string): IncomingMessage => ({ headers: te === undefined ? {} : { 'transfer-encoding': te } }) as unknown as IncomingMessage
const refused = (te: string): boolean => { try { checkFraming(withTe(te)); return false } catch (err) { return hasCode(err, 'GW_ERR_BAD_REQUEST') } }

t.test('Transfer-Encoding must end in chunked, once (RFC 9112 §6.1)', async (t) => {
  t.doesNotThrow(() => checkFraming(withTe()))
  t.doesNotThrow(() => checkFraming(withTe('chunked')))
  t.doesNotThrow(() => checkFraming(withTe('gzip, chunked')))
  for (const te of ['xchunked', 'chunked, gzip', 'identity', 'chunked, chunked', 'chunked ,x']) t.ok(refused(te), te)
})
