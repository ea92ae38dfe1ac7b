import t from 'tap'
import { planAnswer } from '../../fileproxy/conditional.js'

const mtimeMs = Date.parse('2026-01-01T00:00:00Z') + 500
const meta = { key: '/a', size: 100, mtimeMs, hash: 'abc', contentType: 'x', etag: '"abc"', lastModified: new Date(mtimeMs).toUTCString(), varies: false }
const E = '"abc"'
const at = (h: Record<string, string>, method = 'GET') => planAnswer(method, h, meta)

t.test('If-None-Match: weak comparison, lists and * (RFC 9110 §13.1.2)', async (t) => {
  t.same(at({ 'if-none-match': E }), { status: 304 })
  t.same(at({ 'if-none-match': `W/${E}` }), { status: 304 })
  t.same(at({ 'if-none-match': `"x", ${E}` }), { status: 304 })
  t.same(at({ 'if-none-match': '*' }), { status: 304 })
  t.same(at({ 'if-none-match': '"other"' }), { status: 200 })
  t.same(at({ 'if-none-match': E }, 'HEAD'), { status: 304 })
})

t.test('If-Match: strong comparison (RFC 9110 §13.1.1)', async (t) => {
  t.same(at({ 'if-match': E }), { status: 200 })
  t.same(at({ 'if-match': `W/${E}` }), { status: 412 })
  t.same(at({ 'if-match': '"other"' }), { status: 412 })
  t.same(at({ 'if-match': '*' }), { status: 200 })
})

t.test('If-Modified-Since and If-Unmodified-Since at one-second precision; ETags take precedence', async (t) => {
  t.same(at({ 'if-modified-since': 'Thu, 01 Jan 2026 00:00:00 GMT' }), { status: 304 })
  t.same(at({ 'if-modified-since': 'Wed, 31 Dec 2025 23:59:59 GMT' }), { status: 200 })
  t.same(at({ 'if-modified-since': 'Thu, 01 Jan 2026 00:00:00 GMT', 'if-none-match': '"other"' }), { status: 200 })
  t.same(at({ 'if-unmodified-since': 'Wed, 31 Dec 2025 23:59:59 GMT' }), { status: 412 })
})

t.test('Range: one range is 206, unsatisfiable 416, malformed or several ignored', async (t) => {
  t.same(at({ range: 'bytes=0-9' }), { status: 206, start: 0, end: 9 })
  t.same(at({ range: 'bytes=-10' }), { status: 206, start: 90, end: 99 })
  t.same(at({ range: 'bytes=90-' }), { status: 206, start: 90, end: 99 })
  t.same(at({ range: 'bytes=100-200' }), { status: 416 })
  t.same(at({ range: 'bytes=abc' }), { status: 200 })
  t.same(at({ range: 'bytes=0-1,50-60' }), { status: 200 })
  t.same(at({ range: 'items=0-1' }), { status: 200 })
  t.same(at({ range: 'bytes=0-9' }, 'HEAD'), { status: 200 })
})

t.test('If-Range: a strong ETag or the exact date keeps the range; anything else sends all', async (t) => {
  t.same(at({ range: 'bytes=0-9', 'if-range': E }), { status: 206, start: 0, end: 9 })
  t.same(at({ range: 'bytes=0-9', 'if-range': `W/${E}` }), { status: 200 })
  t.same(at({ range: 'bytes=0-9', 'if-range': '"old"' }), { status: 200 })
  t.same(at({ range: 'bytes=0-9', 'if-range': 'Thu, 01 Jan 2026 00:00:00 GMT' }), { status: 206, start: 0, end: 9 })
  t.same(at({ range: 'bytes=0-9', 'if-range': 'Thu, 01 Jan 2026 00:00:01 GMT' }), { status: 200 })
})
