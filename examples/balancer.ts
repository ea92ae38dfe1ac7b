import http from 'node:http'
import { Pool, type Dispatcher } from 'undici'

/**
 * The demo's load balancer: round-robin, no stickiness (podside is what makes that work).
 * `/uploads/…` goes to the file proxies with the prefix stripped; everything else to the gateways.
 * `/favicon.ico` is answered here (204) and never takes a turn in the round-robin: a browser asks
 * for it after each page, and would otherwise pin every page view to the same node.
 *
 * The lists may still be empty when the balancer starts listening (the demo binds its port first,
 * so a taken port is known before anything else starts); they are read on each request, and the
 * balancer answers 503 until a node is there.
 */
export function createBalancer (gateways: string[], fileproxies: string[]): http.Server {
  const pools = new Map<string, Pool>()
  const pool = (u: string): Pool => {
    let p = pools.get(u)
    if (p === undefined) { p = new Pool(u); pools.set(u, p) }
    return p
  }
  const next = { gateways: 0, files: 0 }
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico' || req.url?.startsWith('/favicon.ico?') === true) {
      res.writeHead(204, { 'cache-control': 'public, max-age=86400' }).end()
      return
    }
    const files = req.url?.startsWith('/uploads/') === true
    const group = files ? fileproxies : gateways
    if (group.length === 0) { res.writeHead(503, { 'retry-after': '1' }).end('starting\n'); return }
    const target = group[(files ? next.files++ : next.gateways++) % group.length]
    const path = files ? (req.url as string).slice('/uploads'.length) : req.url ?? '/'
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive') headers[k] = v
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? ''
    headers['x-forwarded-proto'] = 'http'
    pool(target).request({ method: req.method as Dispatcher.HttpMethod, path, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
      .then(async (up) => {
        const out: Record<string, unknown> = { ...up.headers, 'x-demo-backend': target }
        delete out.connection
        delete out['keep-alive']
        delete out['transfer-encoding']
        res.writeHead(up.statusCode, out as http.OutgoingHttpHeaders)
        for await (const chunk of up.body) res.write(chunk)
        res.end()
      })
      .catch(() => { if (res.headersSent) res.destroy(); else res.writeHead(502).end('backend unreachable\n') })
  })
  server.on('close', () => { for (const p of pools.values()) void p.close() })
  return server
}
