import { formatHostPort, type ListenAddress } from './address.js'
import { LOG_LEVELS } from './logger.js'
import { duration, oneOf, redisUrl, secretText, text } from './setting-kinds.js'

/** Settings every daemon shares, so each is spelled and defaulted once. Durations are ms. */
export const commonSettings = {
  redisTimeout: duration('longest a request waits on Redis before it counts as unreachable', { default: 1000 }), // 1 s
  shutdownTimeout: duration('on SIGTERM, longest wait for requests in flight', { default: 10_000 }), // 10 s
  logLevel: oneOf(LOG_LEVELS, 'log level', { default: 'info' }),
  adminToken: secretText('bearer token the admin API (/v1/*) requires; needed when --admin-listen is not a loopback address', { minLength: 16 })
}

export const purgeChannelSetting = text('Redis pub/sub channel of purge messages', { default: 'podside:purge' })

/**
 * The admin API is never on the public port, and never reachable from other hosts without a token
 * (it can end every session of a user, or purge every cache).
 */
export function checkListeners (c: { listen: ListenAddress, adminListen: ListenAddress, adminToken: string | undefined }): string[] {
  const problems: string[] = []
  if (c.listen.port !== 0 && c.listen.port === c.adminListen.port && c.listen.host === c.adminListen.host) {
    problems.push('--admin-listen (PODSIDE_ADMIN_LISTEN): must differ from --listen: the admin API is never on the public port')
  }
  if (!isLoopback(c.adminListen.host) && c.adminToken === undefined) {
    problems.push(`--admin-token (PODSIDE_ADMIN_TOKEN) is required: --admin-listen ${formatHostPort(c.adminListen.host, c.adminListen.port)} is not a loopback address (try: openssl rand -base64 32)`)
  }
  return problems
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this host only. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

export function redisSetting (help: string) {
  return redisUrl(help, { envFallback: 'REDIS_URL' })
}
