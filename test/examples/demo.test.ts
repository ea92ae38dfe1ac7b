import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Browser } from '../helpers/browser.js'
import { waitFor } from '../helpers/ports.js'
import { runCli } from '../helpers/cli.js'

/** `npm start`: the multi-node demo works as its printout says, and Ctrl-C stops it all. */
t.test('the demo: two nodes, one login, uploads, purge, Ctrl-C', async (t) => {
  const demo = spawn(process.execPath, [fileURLToPath(new URL('../../dist/examples/demo.js', import.meta.url))], {
    env: { PATH: process.env.PATH, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  demo.stdout.on('data', (d) => { out += String(d) })
  demo.stderr.on('data', (d) => { out += String(d) })
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve))
  t.teardown(() => { if (demo.exitCode === null) demo.kill('SIGKILL') })
  const url = await waitFor('the demo to print its URL', () => /Open\s+(http:\/\/\S+)\//.exec(out)?.[1], 20_000)
  t.match(out, /two nodes sharing sessions/)

  const browser = new Browser()
  await browser.get(url, '/login?user=alice')
  const nodes = new Set<string>()
  for (let i = 0; i < 4; i++) {
    const who = await browser.get(url, '/whoami')
    t.equal(who.json.user, 'alice', `request ${i}: still logged in on ${String(who.json.node)}`)
    nodes.add(who.json.node)
  }
  t.same([...nodes].sort(), ['node-1', 'node-2'], 'the balancer used both nodes')

  const file = /echo '.*' > (\S+)/.exec(out)?.[1] as string
  const avatar = async (): Promise<string> => (await browser.get(url, '/uploads/avatars/alice.svg')).text
  // Two requests: the balancer alternates, so each file proxy caches the upload once.
  t.match(await avatar(), /#2a7ae2/)
  t.match(await avatar(), /#2a7ae2/)
  const { writeFileSync } = await import('node:fs')
  writeFileSync(file, '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1" fill="#e24a2a"/></svg>\n')
  t.match(await avatar(), /#2a7ae2/, 'cached until purged (one node)')
  t.match(await avatar(), /#2a7ae2/, 'cached until purged (the other)')
  const purge = /npx podside purge (.*)$/m.exec(out)?.[1].split(' ') as string[]
  const result = await runCli(['purge', ...purge])
  t.match(result.stdout, /received by 2 file proxies/)
  await waitFor('both file proxies to serve the new upload', async () =>
    /#e24a2a/.test(await avatar()) && /#e24a2a/.test(await avatar()) ? true : undefined)

  demo.kill('SIGINT')
  t.equal(await exited, 0, 'Ctrl-C stops everything and exits 0')
})
