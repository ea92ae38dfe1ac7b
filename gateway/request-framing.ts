import type { IncomingMessage } from 'node:http'
import { BadRequest } from './errors.js'

/**
 * Framing checks Node's parser leaves to us. Node already answers 400 to conflicting
 * Content-Length, Content-Length with Transfer-Encoding, bare LF and malformed field names, and
 * 431 to oversized headers; it hands us a request whose Transfer-Encoding does not end in chunked.
 * RFC 9112 §6.1: such a request's length cannot be determined, so the server MUST answer 400 and
 * close; forwarding it would let the app and the gateway disagree on where the next request starts.
 */
export function checkFraming (req: IncomingMessage): void {
  // RFC 9112 §3.2: a request with more than one Host field, or an invalid one, MUST be answered 400.
  if (hostFields(req.rawHeaders) > 1) throw new BadRequest('more than one Host header')
  const host = req.headers.host
  if (host !== undefined && !HOST.test(host)) throw new BadRequest('invalid Host header')
  // `OPTIONS *` asks about the server itself (RFC 9110 §9.3.7): nothing the app can answer.
  if (req.url === '*') throw new BadRequest('asterisk-form request target')
  const te = req.headers['transfer-encoding']
  if (te === undefined) return
  const codings = te.split(',').map((c) => c.trim().toLowerCase())
  if (codings[codings.length - 1] !== 'chunked' || codings.slice(0, -1).includes('chunked')) {
    throw new BadRequest('Transfer-Encoding must end in chunked')
  }
}

/** RFC 9110 §7.2: uri-host [ ":" port ], the host a reg-name or a bracketed IP literal (RFC 3986 §3.2.2). */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/

function hostFields (raw: readonly string[]): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') n++
  return n
}
