import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Browser } from '../helpers/browser.js'
import { waitFor } from '../helpers/ports.js'
import { runCli } from '../helpers/cli.js'

const DEMO = fileURLToPath(new URL('../../dist/examples/demo.js', import.meta.url))

/**
 * Runs `npm start`'s script as a real process with its own TMPDIR (so what it leaves on disk can be
 * seen), started in that folder and with a marker in its environment: its children inherit both, so
 * what it leaves running can be found in /proc (redis-server overwrites its environment with its
 * process title, but keeps the working directory).
 */
function startDemo (t: Test, env: NodeJS.ProcessEnv) {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'podside-demo-test-')))
  const marker = `PODSIDE_DEMO_TEST_MARK=${randomUUID()}`
  const demo = spawn(process.execPath, [DEMO], {
    cwd: tmp,
    env: { PATH: process.env.PATH, TMPDIR: tmp, [marker.split('=')[0]]: marker.split('=')[1], ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  demo.stdout.on('data', (d) => { out += String(d) })
  demo.stderr.on('data', (d) => { err += String(d) })
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  })
  return {
    demo,
    exited,
    out: () => out,
    err: () => err,
    /** What the demo left in its TMPDIR. */
    leftOnDisk: () => readdirSync(tmp),
    /** Processes still running in the demo's folder or with its marker (the demo itself included). */
    leftRunning: () => processesOf(tmp, marker)
  }
}

function processesOf (cwd: string, marker: string): number[] {
  if (!existsSync('/proc/self/environ')) return []
  const found: number[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === cwd) { found.push(Number(pid)); continue }
    } catch { /* gone, or not ours */ }
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker)) found.push(Number(pid))
    } catch { /* gone, or not ours */ }
  }
  return found
}

const hasRedis = spawnSync('redis-server', ['--version']).error === undefined

/** `npm start`: the multi-node demo works as its printout says, and Ctrl-C stops it all. */
t.test('the demo: two nodes, one login, uploads, hash URL, purge, Ctrl-C', async (t) => {
  // Never skipped: without redis-server the two-node demo is not tested, which is a failure.
  t.ok(hasRedis, 'redis-server is on the PATH (.ci/run installs it)')
  if (!hasRedis) return
  const d = startDemo(t, { PORT: '0' })
  const url = await waitFor('the demo to print its URL', () => /Open\s+(http:\/\/\S+)\//.exec(d.out())?.[1], 20_000)
  await waitFor('the demo to finish its banner', () => /Ctrl-C stops/.test(d.out()) ? true : undefined)
  const out = d.out()
  t.match(out, /two nodes sharing sessions/)

  await t.test('logging in from a browser returns to the page, which says who and which node', async (t) => {
    const browser = new Browser()
    const html = { accept: 'text/html,application/xhtml+xml' }
    const login = await browser.get(url, '/login?user=alice', html)
    t.equal(login.status, 303, 'a redirect')
    t.equal(login.headers.location, '/', 'back to the page')
    const page = await browser.get(url, '/', html)
    t.match(page.text, /Logged in as <b>alice<\/b>/)
    t.match(page.text, /Served by node-[12]/)
    // The page's own link carries where to come back to.
    const fresh = new Browser()
    const link = /href="(\/login[^"]*)"/.exec((await fresh.get(url, '/', html)).text)?.[1].replace(/&amp;/g, '&') as string
    const viaLink = await fresh.get(url, link)
    t.equal(viaLink.status, 303)
    t.equal(viaLink.headers.location, '/')
  })

  await t.test('favicon requests take no turn in the round-robin', async (t) => {
    const browser = new Browser()
    await browser.get(url, '/login?user=alice')
    const served: string[] = []
    for (let i = 0; i < 4; i++) {
      const page = await browser.get(url, '/', { accept: 'text/html' })
      t.match(page.text, /Logged in as <b>alice<\/b>/, `page ${i}: still logged in`)
      served.push(/Served by (node-\d)/.exec(page.text)?.[1] as string)
      const icon = await browser.get(url, '/favicon.ico')
      t.ok(icon.status === 204 || icon.status === 200, 'the balancer answers /favicon.ico itself')
      t.equal(icon.headers['x-demo-backend'], undefined, 'not forwarded to a node')
    }
    t.same(new Set(served), new Set(['node-1', 'node-2']), 'page views still alternate between the nodes')
    for (let i = 1; i < served.length; i++) t.not(served[i], served[i - 1], `page ${i} went to the other node`)
  })

  await t.test('the banner names each node\'s admin listeners and a podside url step that works', async (t) => {
    const admins = [...out.matchAll(/^\s+(node-\d)\s+gateway admin (http:\/\/\S+).*file proxy admin (http:\/\/\S+)$/gm)]
    t.same(admins.map((m) => m[1]), ['node-1', 'node-2'])
    for (const m of admins) {
      t.equal((await fetch(`${m[2]}/healthz`)).status, 200, `${m[1]}: gateway admin answers`)
      t.equal((await fetch(`${m[3]}/healthz`)).status, 200, `${m[1]}: file proxy admin answers`)
    }
    const step = /npx podside (url --admin .*)$/m.exec(out)?.[1].split(' ') as string[]
    t.ok(step, 'a podside url step is printed')
    const printed = await runCli(step)
    t.equal(printed.code, 0, printed.stderr)
    const hashUrl = printed.stdout.trim()
    t.match(hashUrl, /^\/avatars\/alice\.svg\?v=\S+$/)
    const res = await fetch(`${url}/uploads${hashUrl}`)
    t.equal(res.status, 200)
    t.match(res.headers.get('cache-control'), /immutable/, 'the hash URL is cacheable forever')
  })

  await t.test('uploads are cached until the printed purge', async (t) => {
    const browser = new Browser()
    const file = /echo '.*' > (\S+)/.exec(out)?.[1] as string
    const avatar = async (): Promise<string> => (await browser.get(url, '/uploads/avatars/alice.svg')).text
    // Two requests: the balancer alternates, so each file proxy caches the upload once.
    t.match(await avatar(), /#2a7ae2/)
    t.match(await avatar(), /#2a7ae2/)
    writeFileSync(file, '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1" fill="#e24a2a"/></svg>\n')
    t.match(await avatar(), /#2a7ae2/, 'cached until purged (one node)')
    t.match(await avatar(), /#2a7ae2/, 'cached until purged (the other)')
    const purge = /npx podside purge (.*)$/m.exec(out)?.[1].split(' ') as string[]
    const result = await runCli(['purge', ...purge])
    t.match(result.stdout, /received by 2 file proxies/)
    await waitFor('both file proxies to serve the new upload', async () =>
      /#e24a2a/.test(await avatar()) && /#e24a2a/.test(await avatar()) ? true : undefined)
  })

  await t.test('the schedule counts uploads every 10 s on one node, and the printed command lists it', async (t) => {
    const line = await waitFor('a scheduled run', () => /^ {2}schedule: (node-[12]) counted (\d+) uploads? \(tick (\S+),/m.exec(d.out()) ?? undefined, 25_000)
    t.equal(line[2], '1', 'the one avatar (the schedules file is a dotfile, left out)')
    t.equal(Date.parse(line[3]) % 10_000, 0, 'a tick on the 10 s grid')
    const ticks = [...d.out().matchAll(/^ {2}schedule: node-\d counted \d+ uploads? \(tick (\S+),/gm)].map((m) => m[1])
    t.equal(new Set(ticks).size, ticks.length, 'one node per tick')
    const step = /npx podside (tasks schedules --redis \S+)/.exec(out)?.[1].split(' ') as string[]
    const listed = await runCli(step)
    t.equal(listed.code, 0, listed.stderr)
    t.match(listed.stdout, /^count-uploads\s+every 10s\s+one\s+count-uploads\s+\S+\s+\S+\s+run\s+/m)
  })

  await t.test('the task fanned out at start ran once on each node', async (t) => {
    const posted = await waitFor('the fan-out to be posted', () => /^ {2}fan-out: {2}posted warm-cache to every node: curl -s (\S+)/m.exec(d.out())?.[1], 20_000)
    const task = await waitFor('every copy done', async () => {
      const body = await (await fetch(posted)).json() as { state: string, on: string, copies?: Array<{ state: string }> }
      return body.state === 'done' ? body : undefined
    })
    t.equal(task.on, 'every')
    t.equal(task.copies?.length, 2, 'one copy per node')
    const ran = [...d.out().matchAll(/^ {2}fan-out: {2}(node-\d) warmed its cache/gm)].map((m) => m[1]).sort()
    t.same(ran, ['node-1', 'node-2'], 'each node ran it once')
  })

  if (existsSync('/proc/self/environ')) t.ok(d.leftRunning().length >= 2, 'the check sees the demo and its redis-server while they run')
  d.demo.kill('SIGINT')
  t.equal(await d.exited, 0, 'Ctrl-C stops everything and exits 0')
  t.same(d.leftRunning(), [], 'no process of the demo (redis-server) is left running')
  t.same(d.leftOnDisk(), [], 'no temporary folder is left')
})

t.test('without redis-server: one node, and the printed purge command works as printed; SIGTERM stops it all', async (t) => {
  const emptyPath = mkdtempSync(join(tmpdir(), 'podside-demo-nopath-'))
  t.teardown(() => rmSync(emptyPath, { recursive: true, force: true }))
  const d = startDemo(t, { PORT: '0', PATH: emptyPath })
  await waitFor('the demo to finish its banner', () => /Ctrl-C stops/.test(d.out()) ? true : undefined, 20_000)
  const out = d.out()
  const url = /Open\s+(http:\/\/\S+)\//.exec(out)?.[1] as string
  t.match(out, /one node on the in-memory store/)
  t.match(out, /^\npodside demo: /, 'the banner comes first (no warnings about what it explains)')
  t.notMatch(out, /--redis/, 'no command that needs Redis is printed')
  t.equal([...out.matchAll(/^\s+node-\d\s+gateway admin http:\/\/\S+.*file proxy admin http:\/\/\S+$/gm)].length, 1, 'one node\'s admin listeners')

  const browser = new Browser()
  const login = await browser.get(url, '/login?user=bob', { accept: 'text/html' })
  t.equal(login.status, 303)
  const page = await browser.get(url, '/', { accept: 'text/html' })
  t.match(page.text, /Logged in as <b>bob<\/b>/)
  t.match(page.text, /Served by node-1/)

  const file = /echo '.*' > (\S+)/.exec(out)?.[1] as string
  const avatar = async (): Promise<string> => (await browser.get(url, '/uploads/avatars/alice.svg')).text
  t.match(await avatar(), /#2a7ae2/)
  writeFileSync(file, '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1" fill="#e24a2a"/></svg>\n')
  t.match(await avatar(), /#2a7ae2/, 'cached until purged')
  const purge = /^\s+Purge\s+(.*)$/m.exec(out)?.[1] as string
  const hasCurl = purge.startsWith('curl ') && spawnSync('curl', ['--version']).error === undefined
  if (hasCurl) {
    // Run exactly what was printed, in a shell, as a newcomer would.
    const ran = spawnSync('/bin/sh', ['-c', purge], { encoding: 'utf8', env: { PATH: process.env.PATH } })
    t.equal(ran.status, 0, `${purge}: ${ran.stderr}`)
    t.match(ran.stdout, /"purged":1/)
  } else {
    t.match(purge, /^curl -s -X POST --data-binary (\/\S+) (http:\/\/\S+\/v1\/purge)$/, 'a curl POST to the file proxy admin')
    const [, path, target] = /--data-binary (\S+) (\S+)$/.exec(purge) as RegExpExecArray
    t.equal((await fetch(target, { method: 'POST', body: path })).status, 200)
  }
  t.match(await avatar(), /#e24a2a/, 'the purge reached the file proxy')
  const fanned = await waitFor('the fan-out to run', () => /^ {2}fan-out: {2}(node-\d) warmed its cache/m.exec(d.out())?.[1])
  t.equal(fanned, 'node-1', 'the task fanned out to every node ran on the one node')

  d.demo.kill('SIGTERM')
  t.equal(await d.exited, 0, 'SIGTERM stops everything and exits 0')
  t.same(d.leftRunning(), [], 'nothing of the demo is left running')
  t.same(d.leftOnDisk(), [], 'no temporary folder is left')
})

t.test('a taken port: one line naming PORT=, exit 2, nothing left behind', async (t) => {
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const port = (taken.address() as net.AddressInfo).port
  const d = startDemo(t, { PORT: String(port) })
  t.equal(await d.exited, 2, 'exit code 2')
  t.equal(d.out(), '', 'nothing on stdout')
  const lines = d.err().trimEnd().split('\n')
  t.equal(lines.length, 1, `one line: ${d.err()}`)
  t.match(lines[0], `port ${port} is taken`)
  t.match(lines[0], /PORT=/)
  t.same(d.leftRunning(), [], 'nothing of the demo is left running')
  t.same(d.leftOnDisk(), [], 'no temporary folder is left')
})

t.test('an error during start-up (after redis-server started): one line, exit 1, nothing left behind', async (t) => {
  const d = startDemo(t, { PORT: '0', PODSIDE_LOG_LEVEL: 'loud' })
  t.equal(await d.exited, 1, 'exit code 1')
  const lines = d.err().trimEnd().split('\n')
  t.equal(lines.length, 1, `one line: ${d.err()}`)
  t.match(lines[0], /podside demo: could not start: .*log-level.*"loud"/)
  t.same(d.leftRunning(), [], 'nothing of the demo (redis-server) is left running')
  t.same(d.leftOnDisk(), [], 'no temporary folder is left')
})
