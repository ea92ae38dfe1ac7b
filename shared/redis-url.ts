/**
 * Redis addresses of the public contract:
 *   redis://[user:password@]host[:port][/db]                    (rediss:// for TLS)
 *   redis-sentinel://[user:password@]h1:p1,h2:p2/<master>[?db=N&sentinelPassword=…]
 *   redis-cluster://[user:password@]h1:p1,h2:p2[,…]
 * `new URL()` cannot hold a host list, so the authority is split by hand; each part is then checked.
 */
export interface HostPort { host: string, port: number }

interface Common { tls: boolean, username?: string, password?: string, href: string }
export type RedisTarget =
  | Common & { mode: 'standalone', host: string, port: number, db: number }
  | Common & { mode: 'sentinel', sentinels: HostPort[], masterName: string, db: number, sentinelPassword?: string, sentinelUsername?: string }
  | Common & { mode: 'cluster', nodes: HostPort[] }

const SCHEMES: Record<string, { mode: RedisTarget['mode'], tls: boolean }> = {
  'redis:': { mode: 'standalone', tls: false },
  'rediss:': { mode: 'standalone', tls: true },
  'redis-sentinel:': { mode: 'sentinel', tls: false },
  'rediss-sentinel:': { mode: 'sentinel', tls: true },
  'redis-cluster:': { mode: 'cluster', tls: false },
  'rediss-cluster:': { mode: 'cluster', tls: true }
}

/** Parses a Redis address; returns a string that says what is wrong when it is not one. */
export function parseRedisUrl (text: string): RedisTarget | string {
  const m = /^([a-z-]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(text)
  if (m === null) return 'redis://host:port, redis-sentinel://h1:p1,h2:p2/master or redis-cluster://h1:p1,h2:p2'
  const [, protocol, userinfo, authority, path = '', query = ''] = m
  const scheme = SCHEMES[protocol]
  if (scheme === undefined) return `a scheme among ${Object.keys(SCHEMES).map((s) => s + '//').join(', ')}`
  // Without a port, Redis' own: 6379, or 26379 for a Sentinel (as docker compose files write `redis://redis`).
  const defaultPort = scheme.mode === 'sentinel' ? 26379 : 6379
  const hosts = authority.split(',').map((h) => parseHostPort(h, defaultPort))
  if (hosts.length === 0 || hosts.some((h) => h === undefined)) return 'host or host:port entries (e.g. redis, 10.0.0.5:6379)'
  const params = new URLSearchParams(query)
  const common: Common = { tls: scheme.tls, href: redact(text), ...credentials(userinfo) }
  // The path is the database for redis://, but the master name for redis-sentinel:// (db is ?db=N).
  const db = Number(params.get('db') ?? (scheme.mode === 'standalone' && path.length > 1 ? path.slice(1) : '0'))

  switch (scheme.mode) {
    case 'standalone': {
      if (hosts.length !== 1) return 'one host:port for redis:// (use redis-sentinel:// or redis-cluster:// for several)'
      if (!Number.isInteger(db) || db < 0) return 'a database number after the slash (redis://host:6379/0)'
      return { ...common, mode: 'standalone', ...(hosts[0] as HostPort), db }
    }
    case 'sentinel': {
      const masterName = decodeURIComponent(path.slice(1))
      if (masterName === '' || masterName.includes('/')) return 'the master name after the hosts (redis-sentinel://h1:26379,h2:26379/mymaster)'
      if (!Number.isInteger(db) || db < 0) return 'db=N with a database number'
      const sentinelPassword = params.get('sentinelPassword') ?? undefined
      const sentinelUsername = params.get('sentinelUsername') ?? undefined
      return { ...common, mode: 'sentinel', sentinels: hosts as HostPort[], masterName, db, sentinelPassword, sentinelUsername }
    }
    case 'cluster':
      if (path.length > 1) return 'no database for redis-cluster:// (Cluster has only database 0)'
      return { ...common, mode: 'cluster', nodes: hosts as HostPort[] }
  }
}

function parseHostPort (text: string, defaultPort: number): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(text)
  const port = m?.[3] === undefined ? defaultPort : Number(m[3])
  if (m === null || port < 1 || port > 65535) return undefined
  return { host: m[1] ?? m[2], port }
}

function credentials (userinfo: string | undefined): { username?: string, password?: string } {
  if (userinfo === undefined || userinfo === '') return {}
  const colon = userinfo.indexOf(':')
  if (colon === -1) return { password: decodeURIComponent(userinfo) }
  const username = decodeURIComponent(userinfo.slice(0, colon))
  return { username: username === '' ? undefined : username, password: decodeURIComponent(userinfo.slice(colon + 1)) }
}

/** The address with its password replaced, safe for logs and `--check-config`. */
export function redact (text: string): string {
  return text
    .replace(/\/\/([^@/]*)@/, (_, info: string) => `//${info.includes(':') ? info.split(':')[0] + ':***' : '***'}@`)
    .replace(/(sentinelPassword=)[^&#]*/, '$1***')
}
