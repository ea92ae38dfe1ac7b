import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** What `npm publish` would ship: the CLI and what it needs, nothing internal by accident. */
const root = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

t.test('the published package holds the CLI, no examples and no source maps without sources', async (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })
  const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path)
  t.ok(files.includes('dist/cli.js'), 'the CLI')
  t.ok(files.includes('LICENSE'))
  t.same(files.filter((f) => f.endsWith('.map') || f.startsWith('dist/examples/') || f.endsWith('.ts')), [])
})

t.test('package.json: an exports map that exposes nothing internal, a repository, a license file that matches', async (t) => {
  t.same(pkg.exports, { './package.json': './package.json' })
  t.equal(pkg.bin.podside, 'dist/cli.js')
  t.match(pkg.repository, { type: 'git' })
  t.equal(pkg.license, 'MIT')
  t.match(readFileSync(new URL('../LICENSE', import.meta.url), 'utf8'), /^MIT License/)
})
