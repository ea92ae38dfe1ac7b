import t from 'tap'
import { mergePurges, purgeMatch } from '../../fileproxy/purge-match.js'
import { createPurgeQueue } from '../../fileproxy/purge-queue.js'
import type { PurgeSpec } from '../../fileproxy/purge-message.js'
import { silentLogger } from '../helpers/log.js'

t.test('prefix matching: the covered prefixes left out, one binary search per key', async (t) => {
  const m = purgeMatch({ paths: ['/x.png'], prefixes: ['/a/b/', '/a/', '/c/d', '/c/e/', '/zz'], all: false })
  for (const key of ['/a/1.png', '/a/b/2.png', '/c/d.png', '/c/dd/1', '/c/e/f', '/zz', '/x.png']) t.ok(m.matches(key), key)
  for (const key of ['/a.png', '/b/1', '/c/e.png', '/c/', '/z', '/y.png', '/']) t.notOk(m.matches(key), key)
  t.notOk(purgeMatch({ paths: [], prefixes: [], all: false }).matches('/a'))
  t.ok(purgeMatch({ paths: [], prefixes: [], all: true }).matches('/a'))
})

t.test('merged purges drop what each drops', async (t) => {
  t.same(mergePurges([{ id: '1', paths: ['/a'], prefixes: [], all: false }, { paths: [], prefixes: ['/b/'], all: false }]),
    { paths: ['/a'], prefixes: ['/b/'], all: false })
  t.same(mergePurges([{ id: '1', paths: ['/a'], prefixes: [], all: false }]), { id: '1', paths: ['/a'], prefixes: [], all: false })
  t.equal(mergePurges([{ paths: ['/a'], prefixes: [], all: false }, { paths: [], prefixes: [], all: true }]).all, true)
})

t.test('the queue handles messages in batches between turns, counting every one', async (t) => {
  const applied: PurgeSpec[] = []
  const counted = { applied: 0, ignored: 0, reasons: new Set<string>() }
  const q = createPurgeQueue({
    maxBytes: 100,
    budgetMs: 1,
    apply: (spec) => { applied.push(spec); return 0 },
    report: {
      applied: (_source, _spec, messages) => { counted.applied += messages },
      ignored: (reason) => { counted.ignored++; counted.reasons.add(reason) },
      close () {}
    },
    log: silentLogger(),
    source: 'redis'
  })
  for (let i = 0; i < 30_000; i++) q.push(i % 3 === 0 ? `/f/${i}.png` : i % 3 === 1 ? JSON.stringify({ prefixes: [`/d${i}/`] }) : '{bad')
  q.push('/' + 'x'.repeat(200))
  t.equal(q.pending, 30_001, 'nothing is handled where it arrives')
  let turns = 0
  while (q.pending > 0) { await new Promise((resolve) => setImmediate(resolve)); turns++ }
  t.ok(turns > 1, `handled over ${turns} turns, not in one`)
  t.equal(counted.applied, 20_000)
  t.equal(counted.ignored, 10_001)
  t.ok(counted.reasons.has('larger than 100 bytes'), 'an oversized message is ignored as such')
  t.equal(applied.reduce((n, s) => n + s.paths.length + s.prefixes.length, 0), 20_000, 'every purge applied')
  t.ok(applied.length < 20_000, `as ${applied.length} merged purges`)
  q.close()
})
