import t from 'tap'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { purgeStorm } from '../../bench/lib/storm.js'
import { waitFor } from '../helpers/ports.js'
import { startDaemon } from '../helpers/processes.js'
import { startRedis, stopRedis } from '../helpers/redis.js'

/**
 * Issue 13 item 3 with real processes: 20,000 purge messages (paths, prefixes, malformed,
 * oversized) pipelined into a real Redis while a reader keeps asking a real fileproxy for a cached
 * file and /readyz. Every reader request must be answered (a generous 5 s each: the latency figure
 * itself is bench/purge-storm.ts's), the counters must end exact, and the log must hold a few
 * lines about malformed messages, not one each.
 */
const base = realpathSync(mkdtempSync(join(tmpdir(), 'podside-storm-')))
mkdirSync(join(base, 'storm', 'dir1'), { recursive: true })
writeFileSync(join(base, 'hot.txt'), 'every reader wants this')
for (let i = 0; i < 50; i++) writeFileSync(join(base, 'storm', 'dir1', `${i}.png`), `file ${i}`)

const redis = await startRedis()
const fp = await startDaemon('fileproxy', ['--root', base, '--redis', redis.url])
t.teardown(async () => {
  await fp.stop()
  await stopRedis(redis)
  rmSync(base, { recursive: true, force: true })
})

const get = async (url: string): Promise<{ status: number, text: string }> => {
  const r = await request(url, { headersTimeout: 5000, bodyTimeout: 5000 })
  return { status: r.statusCode, text: await r.body.text() }
}
const metric = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? 0)

t.test('a purge storm: readers answered throughout, every message counted, malformed ones logged as a count', async (t) => {
  await waitFor('the purge subscription', async () => (await get(fp.adminUrl + '/readyz')).status === 200 ? true : undefined)
  t.equal((await get(fp.url + '/hot.txt')).text, 'every reader wants this')
  for (let i = 0; i < 50; i++) await get(`${fp.url}/storm/dir1/${i}.png`)

  const storm = purgeStorm(20_000)
  let storming = true
  let answered = 0
  const failures: string[] = []
  const reader = (async () => {
    for (let i = 0; storming; i++) {
      const url = i % 2 === 0 ? fp.url + '/hot.txt' : fp.adminUrl + '/readyz'
      try {
        const r = await get(url)
        if (r.status !== 200) failures.push(`${url}: ${r.status}`)
        answered++
      } catch (err) {
        failures.push(`${url}: ${(err as Error).message}`) // a 5 s timeout lands here
      }
    }
  })()

  const publisher = redis.client()
  const pipeline = publisher.pipeline()
  for (const m of storm.messages) pipeline.publish('podside:purge', m)
  const results = await pipeline.exec()
  t.ok(results?.every(([err, n]) => err === null && n === 1), 'each message reached the one subscriber')

  const counts = await waitFor('every message to be counted', async () => {
    const text = (await get(fp.adminUrl + '/metrics')).text
    const c = {
      applied: metric(text, /^podside_fileproxy_purges_received_total\{source="redis"\} (\d+)/m),
      ignored: metric(text, /^podside_fileproxy_purge_messages_ignored_total (\d+)/m)
    }
    return c.applied + c.ignored >= storm.messages.length ? c : undefined
  }, 20_000)
  storming = false
  await reader
  t.same(counts, { applied: storm.applied, ignored: storm.ignored }, 'the counters are exact')
  t.same(failures, [], 'every reader request was answered with 200 within 5 s')
  t.ok(answered > 0, `the reader was answered ${answered} times during the storm`)
  t.equal((await get(fp.url + '/hot.txt')).text, 'every reader wants this')

  const about = fp.lines.filter((l) => typeof l.msg === 'string' && /ignored/.test(l.msg))
  t.ok(about.length >= 1 && about.length <= 3, `${about.length} log lines about ${storm.ignored} ignored messages`)
  t.notOk(fp.output().includes('o'.repeat(1000)), 'no message content in the log')
  const purgeLines = fp.lines.filter((l) => l.msg === 'purge' || (typeof l.msg === 'string' && l.msg.endsWith('purges applied')))
  t.ok(purgeLines.length <= 3, `${purgeLines.length} log lines about ${storm.applied} purges`)
  t.equal(fp.child.exitCode, null, 'the fileproxy is still running')
})

t.test('the counts not logged yet are logged on shutdown', async (t) => {
  await fp.stop()
  const summary = fp.lines.find((l) => typeof l.msg === 'string' && /^\d+ malformed purge messages ignored$/.test(l.msg))
  t.ok(summary, 'one line with the count of the rest')
  t.equal(summary?.count, purgeStorm(20_000).ignored - 1, 'the first was logged on its own')
  t.match(summary?.first, { reason: String, bytes: Number }, 'a sample of the first: why, and how long')
})
