import { request } from 'undici'

/**
 * A minimal browser: keeps the cookies it is given (name → value, ignoring attributes) and sends
 * them back on every request, to any gateway it is pointed at (as a load balancer would).
 */
export class Browser {
  readonly cookies = new Map<string, string>()
  /** Every Set-Cookie line received, verbatim. */
  readonly received: string[] = []

  async get (base: string, path: string, headers: Record<string, string> = {}) {
    return await this.fetch(base, path, { method: 'GET', headers })
  }

  async fetch (base: string, path: string, opts: { method?: string, headers?: Record<string, string>, body?: any } = {}) {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await request(base + path, {
      method: (opts.method ?? 'GET') as 'GET',
      headers: { ...(cookie === '' ? {} : { cookie }), ...opts.headers },
      body: opts.body
    })
    const lines = res.headers['set-cookie']
    for (const line of lines === undefined ? [] : Array.isArray(lines) ? lines : [lines]) {
      this.received.push(line)
      const [pair] = line.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      if (/;\s*max-age=0/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    const text = await res.body.text()
    let json: any
    try { json = JSON.parse(text) } catch { json = undefined }
    return { status: res.statusCode, headers: res.headers, text, json }
  }
}
