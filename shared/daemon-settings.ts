import type { ListenAddress } from './address.js'
import { LOG_LEVELS } from './logger.js'
import { duration, oneOf, redisUrl, text } from './setting-kinds.js'

/** Settings every daemon shares, so each is spelled and defaulted once. Durations are ms. */
export const commonSettings = {
  redisTimeout: duration('longest a request waits on Redis before it counts as unreachable', { default: 1000 }), // 1 s
  shutdownTimeout: duration('on SIGTERM, longest wait for requests in flight', { default: 10_000 }), // 10 s
  logLevel: oneOf(LOG_LEVELS, 'log level', { default: 'info' })
}

export const purgeChannelSetting = text('Redis pub/sub channel of purge messages', { default: 'podside:purge' })

/** The admin API is never on the public port. */
export function checkListeners (c: { listen: ListenAddress, adminListen: ListenAddress }): string[] {
  if (c.listen.port === 0 || c.listen.port !== c.adminListen.port || c.listen.host !== c.adminListen.host) return []
  return ['--admin-listen (PODSIDE_ADMIN_LISTEN): must differ from --listen: the admin API is never on the public port']
}

export function redisSetting (help: string) {
  return redisUrl(help, { envFallback: 'REDIS_URL' })
}
