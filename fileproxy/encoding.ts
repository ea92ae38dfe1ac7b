import type { Variant, Variants } from './compress.js'

/** The q-value of each content coding the file proxy can send. */
export interface Weights { br: number, gzip: number, identity: number }

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/
const NONE: Weights = { br: 0, gzip: 0, identity: 1 }
const memo = new Map<string, Weights>()
const MEMO_ENTRIES = 64 // distinct Accept-Encoding values remembered (browsers send a handful)

/**
 * What an `Accept-Encoding` value accepts (RFC 9110 §12.5.3): codings are case-insensitive, a
 * coding not listed takes the q of `*` if there is one (else it is not acceptable), identity is
 * acceptable unless excluded by `identity;q=0` or by `*;q=0` without its own entry; unnamed, it
 * ranks with the least wanted coding listed (as `negotiator` does), so `gzip;q=0.5` still gets gzip.
 * `x-gzip` is gzip (§8.4.1.3). A member with a malformed q is ignored.
 */
export function weightsOf (header: string | undefined): Weights {
  if (header === undefined) return NONE
  const known = memo.get(header)
  if (known !== undefined) return known
  let br: number | undefined
  let gzip: number | undefined
  let identity: number | undefined
  let star: number | undefined
  let least = 1
  for (const member of header.split(',')) {
    const [name, ...params] = member.split(';')
    let q = 1
    for (const p of params) {
      const eq = p.indexOf('=')
      if (p.slice(0, eq).trim().toLowerCase() !== 'q') continue
      const value = p.slice(eq + 1).trim()
      q = QVALUE.test(value) ? Number(value) : NaN
    }
    if (Number.isNaN(q)) continue
    if (q > 0) least = Math.min(least, q)
    switch (name.trim().toLowerCase()) {
      case 'br': br = q; break
      case 'gzip': case 'x-gzip': gzip = q; break
      case 'identity': identity = q; break
      case '*': star = q; break
    }
  }
  const weights = { br: br ?? star ?? 0, gzip: gzip ?? star ?? 0, identity: identity ?? star ?? least }
  if (memo.size >= MEMO_ENTRIES) memo.clear()
  memo.set(header, weights)
  return weights
}

/**
 * The variant to send: the acceptable one with the highest q, ties going to br, then gzip, then
 * identity (smaller first). When nothing the file has is acceptable, identity anyway: RFC 9110
 * §12.5.3 lets a server disregard the field rather than answer 406.
 */
export function chooseVariant (variants: Variants, header: string | undefined): Variant {
  const { br, gzip, identity } = variants
  if (br === undefined && gzip === undefined) return identity
  const w = weightsOf(header)
  let best = identity
  let bestQ = w.identity
  if (gzip !== undefined && w.gzip > 0 && w.gzip >= bestQ) { best = gzip; bestQ = w.gzip }
  if (br !== undefined && w.br > 0 && w.br >= bestQ) best = br
  return best
}
