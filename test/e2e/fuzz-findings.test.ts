import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { serve, startDaemon } from '../helpers/processes.js'

/**
 * Requests the seeded fuzz pass (fuzz.test.ts) found mishandled, pinned here so they fail on every
 * run, whatever the seed.
 */

/** Raw bytes to `url`'s port; the status line of the answer. */
async function statusLine (url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    let got = ''
    const socket = net.connect(Number(port), hostname, () => socket.write(text))
    socket.on('data', (d) => { got += String(d) })
    socket.on('close', () => resolve(got.split('\r\n')[0]))
    socket.on('error', reject)
  })
}

t.test('a Host header with an unclosed IPv6 bracket gets a 4xx from the gateway, never a 502 and never an error log (fuzz seed 31337, #4010)', async (t) => {
  const app = await serve(http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('app\n')) }))
  const gw = await startDaemon('gateway', ['--upstream', app.url])
  t.teardown(async () => { await gw.stop(); await app.close() })
  for (const host of ['[', '[::1', '[,oPX', '[::1:8080']) {
    const line = await statusLine(gw.url, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    t.match(line, /^HTTP\/1\.1 4\d\d /, `Host: ${host} → ${line}`)
  }
  t.equal(await statusLine(gw.url, 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n'), 'HTTP/1.1 200 OK', 'a well-formed IPv6 Host still reaches the app')
  const errors = gw.lines.filter((l) => typeof l.level === 'number' && (l.level as number) >= 50)
  t.same(errors.map((l) => (l.err as { message?: string } | undefined)?.message ?? l.msg), [], 'nothing logged at error level')
  t.equal(gw.child.exitCode, null, 'the gateway is still running')
})
