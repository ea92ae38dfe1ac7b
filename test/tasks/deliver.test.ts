import t from 'tap'
import { backoffMs, classify, parseRetryAfter } from '../../tasks/deliver.js'

const NOW = Date.parse('2026-01-01T00:00:00Z')

t.test('classify: the app\'s status decides, Podside-Task-Result overrides', async (t) => {
  const table: Array<[number, Record<string, string>, string]> = [
    [200, {}, 'done'], [204, {}, 'done'], [299, {}, 'done'],
    [408, {}, 'retry'], [425, {}, 'retry'], [429, {}, 'retry'], [500, {}, 'retry'], [503, {}, 'retry'], [599, {}, 'retry'],
    [400, {}, 'dead'], [401, {}, 'dead'], [404, {}, 'dead'], [409, {}, 'dead'], [422, {}, 'dead'], [302, {}, 'dead'],
    [200, { 'podside-task-result': 'retry' }, 'retry'], [500, { 'podside-task-result': 'dead' }, 'dead'],
    [404, { 'podside-task-result': ' Done ' }, 'done'], [500, { 'podside-task-result': 'maybe' }, 'retry']
  ]
  for (const [status, headers, result] of table) t.equal(classify(status, headers, NOW).result, result, `${status} ${JSON.stringify(headers)}`)
  t.match(classify(503, { 'retry-after': '7' }, NOW), { result: 'retry', retryAfterMs: 7000, error: 'the app answered 503' })
  t.notOk('retryAfterMs' in classify(404, { 'retry-after': '7' }, NOW), 'Retry-After only matters for a retry')
  t.notOk('error' in classify(200, {}, NOW))
  t.match(classify(200, { 'podside-task-result': ['dead', 'done'] }, NOW), { result: 'dead', error: /Podside-Task-Result: dead/ })
})

t.test('Retry-After: seconds or an HTTP date (RFC 9110 §10.2.3)', async (t) => {
  t.equal(parseRetryAfter('120', NOW), 120_000)
  t.equal(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW), 30_000)
  t.equal(parseRetryAfter(new Date(NOW - 30_000).toUTCString(), NOW), 0, 'a date past is now')
  t.equal(parseRetryAfter('soon', NOW), undefined)
  t.equal(parseRetryAfter(undefined, NOW), undefined)
})

t.test('backoff: full jitter under an exponential bound, capped; Retry-After capped too', async (t) => {
  const b = { minMs: 1000, maxMs: 600_000 }
  t.equal(backoffMs(1, b, undefined, () => 0.999999), 1000)
  t.equal(backoffMs(3, b, undefined, () => 0.5), 2000)
  t.equal(backoffMs(3, b, undefined, () => 0), 0)
  t.equal(backoffMs(20, b, undefined, () => 1), 600_000, 'at most the maximum')
  t.equal(backoffMs(500, b, undefined, () => 1), 600_000, 'no overflow for huge attempts')
  t.equal(backoffMs(1, b, 3_600_000), 600_000, 'Retry-After honoured up to the maximum')
  t.equal(backoffMs(1, b, 5000), 5000)
})
