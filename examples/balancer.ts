import http from 'node:http'
import { Pool, type Dispatcher } from 'undici'

/**
 * The demo's load balancer: round-robin, no stickiness (podside is what makes that work).
 * `/uploads/…` goes to the file proxies with the prefix stripped; everything else to the gateways.
 */
export function createBalancer (gateways: string[], fileproxies: string[]): http.Server {
  const pools = new Map([...gateways, ...fileproxies].map((u) => [u, new Pool(u)]))
  const next = { gateways: 0, files: 0 }
  const server = http.createServer((req, res) => {
    const files = req.url?.startsWith('/uploads/') === true
    const group = files ? fileproxies : gateways
    const target = group[(files ? next.files++ : next.gateways++) % group.length]
    const path = files ? (req.url as string).slice('/uploads'.length) : req.url ?? '/'
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive') headers[k] = v
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? ''
    headers['x-forwarded-proto'] = 'http'
    pools.get(target)?.request({ method: req.method as Dispatcher.HttpMethod, path, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
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
