import t from 'tap'
import { parsePurgeMessage } from '../../fileproxy/purge-message.js'

const MAX = 1024

t.test('a plain path, as redis-cli PUBLISH sends it, normalised like a request path', async (t) => {
  t.same(parsePurgeMessage('/avatars/42.png', MAX), { paths: ['/avatars/42.png'], prefixes: [], all: false })
  t.same(parsePurgeMessage('//avatars//42.png\n', MAX), { paths: ['/avatars/42.png'], prefixes: [], all: false })
})

t.test('JSON with id, paths, prefixes and all', async (t) => {
  t.same(parsePurgeMessage('{"id":"x1","paths":["/a.png"],"prefixes":["/av//"]}', MAX), { id: 'x1', paths: ['/a.png'], prefixes: ['/av/'], all: false })
  t.same(parsePurgeMessage('{"all":true}', MAX), { id: undefined, paths: [], prefixes: [], all: true })
})

t.test('malformed and oversized messages say why', async (t) => {
  for (const bad of ['', 'avatars/42.png', '{', '{"paths":"/a"}', '{"paths":[1]}', '{"all":"yes"}', '{}', '{"paths":["/../x"]}', '[1]', '/a/']) {
    t.type(parsePurgeMessage(bad, MAX), 'string', JSON.stringify(bad))
  }
  t.match(parsePurgeMessage('/' + 'a'.repeat(MAX), MAX), /larger than 1024 bytes/)
})
