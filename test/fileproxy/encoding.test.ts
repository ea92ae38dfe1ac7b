import t from 'tap'
import type { Variant, Variants } from '../../fileproxy/compress.js'
import { chooseVariant, weightsOf } from '../../fileproxy/encoding.js'

const variant = (encoding: Variant['encoding']): Variant => ({ encoding, body: Buffer.from(encoding), meta: {} as Variant['meta'] })
const all: Variants = { identity: variant('identity'), br: variant('br'), gzip: variant('gzip') }
const gzipOnly: Variants = { identity: variant('identity'), gzip: variant('gzip') }
const none: Variants = { identity: variant('identity') }
const pick = (header: string | undefined, variants: Variants = all): string => chooseVariant(variants, header).encoding

t.test('Accept-Encoding negotiation (RFC 9110 §12.5.3): q-values, identity, *, q=0; br, then gzip', async (t) => {
  const table: Array<[string | undefined, string, string]> = [
    // header, with br+gzip, with gzip only
    [undefined, 'identity', 'identity'], // no field: no preference; send what every client reads
    ['', 'identity', 'identity'],
    ['gzip, deflate, br, zstd', 'br', 'gzip'], // a browser
    ['br, gzip', 'br', 'gzip'],
    ['gzip', 'gzip', 'gzip'],
    ['GZIP', 'gzip', 'gzip'], // codings are case-insensitive
    ['x-gzip', 'gzip', 'gzip'], // §8.4.1.3
    ['br;q=0.5, gzip', 'gzip', 'gzip'], // q-values beat the server's preference
    ['br;q=0.8, gzip;q=0.8', 'br', 'gzip'], // a tie goes to the smaller
    ['gzip;q=0.5', 'gzip', 'gzip'], // identity unnamed ranks with the least wanted coding
    ['gzip;q=0.5, identity', 'identity', 'identity'], // identity named at 1 beats gzip at 0.5
    ['br;q=0, gzip;q=0', 'identity', 'identity'],
    ['br;q=0', 'identity', 'identity'],
    ['*', 'br', 'gzip'],
    ['*;q=0.5, gzip', 'gzip', 'gzip'],
    ['*;q=0', 'identity', 'identity'], // nothing acceptable: identity anyway (no 406)
    ['identity;q=0, gzip', 'gzip', 'gzip'],
    ['identity', 'identity', 'identity'],
    ['deflate, zstd', 'identity', 'identity'],
    ['br;q=1.5, gzip', 'gzip', 'gzip'], // a malformed q: that member is ignored
    ['br;q=abc', 'identity', 'identity'],
    ['br;level=5, gzip;q=0.1', 'br', 'gzip'], // other parameters are not q
    ['br ; q=0.900 , gzip ; q=0.9', 'br', 'gzip'],
    [' , br', 'br', 'identity']
  ]
  for (const [header, withBoth, withGzip] of table) {
    t.equal(pick(header), withBoth, `${JSON.stringify(header)} with br and gzip`)
    t.equal(pick(header, gzipOnly), withGzip, `${JSON.stringify(header)} with gzip only`)
    t.equal(pick(header, none), 'identity', `${JSON.stringify(header)} with no variant`)
  }
})

t.test('weights of one field are parsed once and remembered (a bounded memo)', async (t) => {
  t.equal(weightsOf('br, gzip'), weightsOf('br, gzip'), 'the same object the second time')
  for (let i = 0; i < 100; i++) weightsOf(`gzip;q=0.${i % 10}${i}`)
  t.same(weightsOf('br, gzip'), { br: 1, gzip: 1, identity: 1 }, 'still right after the memo was cleared')
  t.same(weightsOf(undefined), { br: 0, gzip: 0, identity: 1 })
})
