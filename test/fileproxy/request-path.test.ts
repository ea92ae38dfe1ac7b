import t from 'tap'
import { keyFromFilePath, keyFromRequestPath, normalisePrefix } from '../../fileproxy/request-path.js'

const code = (fn: () => unknown): string | undefined => { try { fn(); return undefined } catch (err) { return (err as { code: string }).code } }

t.test('ordinary paths become keys; repeated slashes collapse', async (t) => {
  t.equal(keyFromRequestPath('/avatars/42.png'), '/avatars/42.png')
  t.equal(keyFromRequestPath('//avatars///42.png'), '/avatars/42.png')
  t.equal(keyFromRequestPath('/my%20file.png'), '/my file.png')
  t.equal(keyFromRequestPath('/caf%C3%A9.png'), '/café.png')
})

/**
 * Traversal payloads from published advisories of the field's static servers, each of which must
 * be refused (400/403/404), never resolved:
 * - send / serve-static (CVE-2014-6394, root path disclosure; 2015 open redirect `//evil/%2e%2e`)
 * - st (CVE-2014-3744: encoded dots `%2e%2e`)
 * - @fastify/static (CVE-2021-22963 `//host/%2e%2e`; encoded separators)
 * - sirv (2021: `..%5c` and backslash traversal on Windows hosts)
 * plus the classics: double encoding, overlong UTF-8, NUL, dotfiles.
 */
const PAYLOADS: Array<[string, string]> = [
  ['/../etc/passwd', 'FP_ERR_BAD_PATH'],
  ['/avatars/../../etc/passwd', 'FP_ERR_BAD_PATH'],
  ['/%2e%2e/%2e%2e/etc/passwd', 'FP_ERR_BAD_PATH'],
  ['/%2E%2E/%2E%2E/%2E%2E/etc/passwd', 'FP_ERR_BAD_PATH'],
  ['/.%2e/etc/passwd', 'FP_ERR_BAD_PATH'],
  ['//evil.example/%2e%2e', 'FP_ERR_BAD_PATH'],
  ['/%2e%2e%2fetc%2fpasswd', 'FP_ERR_BAD_PATH'],
  ['/..%2fetc%2fpasswd', 'FP_ERR_BAD_PATH'],
  ['/..%5c..%5cetc%5cpasswd', 'FP_ERR_BAD_PATH'],
  ['/..\\..\\etc\\passwd', 'FP_ERR_BAD_PATH'],
  ['/avatars/42.png%00.txt', 'FP_ERR_BAD_PATH'],
  ['/%c0%ae%c0%ae/etc/passwd', 'FP_ERR_BAD_PATH'],
  ['/%%32%65%%32%65/etc/passwd', 'FP_ERR_BAD_PATH'],
  ['/./avatars/42.png', 'FP_ERR_BAD_PATH'],
  ['/.env', 'FP_ERR_NOT_FOUND'],
  ['/.git/config', 'FP_ERR_NOT_FOUND'],
  ['/avatars/.secret/x.png', 'FP_ERR_NOT_FOUND'],
  ['/%2eenv', 'FP_ERR_NOT_FOUND'],
  ['/avatars/', 'FP_ERR_NOT_FOUND'],
  ['/', 'FP_ERR_NOT_FOUND']
]

t.test('traversal payloads from published CVEs are refused', async (t) => {
  for (const [path, expected] of PAYLOADS) t.equal(code(() => keyFromRequestPath(path)), expected, path)
})

t.test('double encoding is decoded once only: %252e%252e is a literal file name, not ..', async (t) => {
  t.equal(keyFromRequestPath('/%252e%252e/etc/passwd'), '/%2e%2e/etc/passwd')
})

t.test('purge paths follow the same rules without percent-decoding', async (t) => {
  t.equal(keyFromFilePath('//a.png'), '/a.png')
  t.equal(keyFromFilePath('/a b.png'), '/a b.png')
  t.equal(code(() => keyFromFilePath('a.png')), 'FP_ERR_BAD_PATH')
  t.equal(code(() => keyFromFilePath('/../a.png')), 'FP_ERR_BAD_PATH')
  t.equal(normalisePrefix('//avatars//'), '/avatars/')
  t.equal(code(() => normalisePrefix('/avatars/../')), 'FP_ERR_BAD_PATH')
})
