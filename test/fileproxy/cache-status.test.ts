import t from 'tap'
import { accessSource, CacheStatus } from '../../fileproxy/cache-status.js'

// RFC 9211 §2: a List (RFC 8941 §3.1) whose member is the cache's name (a token) with parameters;
// hit and stored are Booleans (bare keys), fwd is a token, detail a token or string.
const KEY = /^[a-z*][a-z0-9_.*-]*$/
const TOKEN = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*$/

t.test('every Cache-Status value is one RFC 9211 list member with known parameters', async (t) => {
  for (const [name, value] of Object.entries(CacheStatus)) {
    const [cache, ...params] = value.split('; ')
    t.equal(cache, 'podside', `${name}: names the cache`)
    const keys = params.map((p) => p.split('=')[0])
    for (const p of params) {
      const [key, v] = p.split('=')
      t.match(key, KEY, `${name}: ${key} is a key`)
      t.ok(['hit', 'fwd', 'stored', 'detail'].includes(key), `${name}: ${key} is an RFC 9211 parameter`)
      if (v !== undefined) t.match(v, TOKEN, `${name}: ${key} is a token`)
    }
    // §2.1/§2.2: hit and fwd exclude each other; stored only with fwd.
    t.ok(keys.includes('hit') !== keys.includes('fwd'), `${name}: hit or fwd`)
    if (keys.includes('stored')) t.ok(keys.includes('fwd'), `${name}: stored only after forwarding`)
  }
  t.equal(CacheStatus.refreshed, 'podside; fwd=stale; stored', 'a re-check that found the file changed')
})

t.test('the access log source of each status', async (t) => {
  t.equal(accessSource(CacheStatus.hit), 'hit')
  t.equal(accessSource(CacheStatus.stale), 'stale')
  t.equal(accessSource(CacheStatus.tooLarge), 'disk')
  for (const s of [CacheStatus.stored, CacheStatus.notStored, CacheStatus.refreshed, CacheStatus.refreshedNotStored]) t.equal(accessSource(s), 'miss', s)
})
