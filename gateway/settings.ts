import { checkListeners, commonSettings, redisSetting } from '../shared/daemon-settings.js'
import { boolean, duration, httpUrl, list, listenAddress, oneOf, secretList, size, text, type Values } from '../shared/setting-kinds.js'
import { formatDuration } from '../shared/units.js'
import { checkTasksConfig, tasksSettings } from '../tasks/settings.js'

const SECOND = 1000
const HOUR = 3600 * SECOND
const DAY = 24 * HOUR
const MiB = 1024 * 1024

/** Every setting of `podside gateway`, with its default. Durations are milliseconds. */
export const gatewaySettings = {
  upstream: httpUrl('the app, e.g. http://127.0.0.1:3000', { required: true }),
  listen: listenAddress('public listener', { default: { host: '0.0.0.0', port: 8080 } }),
  adminListen: listenAddress('health, metrics and session API listener (keep it private)', { default: { host: '127.0.0.1', port: 9901 } }),
  adminToken: commonSettings.adminToken,
  redis: redisSetting('session store; without it sessions live in this process only (one node)'),
  secret: secretList('comma-separated signing keys, each at least 32 characters: the first signs, every one verifies'),
  cookieName: text('the browser\'s only session cookie', { default: 'podside' }),
  cookieSecure: oneOf(['auto', 'always', 'never'] as const, 'Secure on the session cookie: auto = when the browser used https', { default: 'auto' }),
  idleTimeout: duration('a session unused this long ends (with its session-only cookies)', { default: 2 * HOUR }), // 2 h
  absoluteTimeout: duration('no session or jar cookie outlives this', { default: 30 * DAY }), // 30 d
  appSessionCookies: list('the app\'s own session cookies: when the app replaces one the request carried (a login), the gateway regenerates its id too; empty = off',
    { default: ['PHPSESSID', 'JSESSIONID', 'ASP.NET_SessionId', 'connect.sid', 'laravel_session', '_session_id', 'sessionid'], allowEmpty: true }),
  cookieSamesite: oneOf(['lax', 'strict', 'none'] as const, 'SameSite of the session cookie (none implies Secure)', { default: 'lax' }),
  passthroughCookies: list('cookie names relayed to the browser as the app set them (e.g. XSRF-TOKEN)', { default: [] }),
  trustProxy: boolean('believe X-Forwarded-For/-Proto/-Host sent by the client (only behind your own proxy)', { default: false }),
  redisTimeout: commonSettings.redisTimeout,
  storeFailure: oneOf(['closed', 'open'] as const, 'Redis unreachable: closed = 503 + Retry-After, open = proxy without the jar', { default: 'closed' }),
  sessionCacheSize: size('bytes of recently used sessions kept in memory, so repeat requests skip Redis (0 = off)', { default: 32 * MiB }), // 32 MiB
  upstreamTimeout: duration('longest wait for the app\'s response headers, and between body chunks', { default: 60 * SECOND }), // 60 s
  shutdownTimeout: commonSettings.shutdownTimeout,
  logLevel: commonSettings.logLevel,
  tasks: boolean('run network tasks: the task API on the admin listener, tasks delivered to --upstream', { default: false }),
  ...tasksSettings
}

export type GatewayConfig = Values<typeof gatewaySettings>

/** Limits that are not settings: they protect Redis and the app from one abusive response. */
export const gatewayLimits = {
  maxJarCookies: 200, // cookies per session
  maxCookieBytes: 16 * 1024, // 16 KiB: name + value of one cookie
  // 3.4 MiB: an app answer may fill the jar in one go (200 cookies of 16 KiB plus 1 KiB of
  // attributes each) and still have 64 KiB for its other headers.
  maxAppHeadBytes: 200 * 17 * 1024 + 64 * 1024,
  regenerateGraceMs: 10 * SECOND, // 10 s: the old id keeps working for requests in flight
  appSessionResetWindowMs: 60 * SECOND, // 60 s: the app replacing its session cookie twice within this is node-local state
  appSessionResetWarnEveryMs: 60 * SECOND, // 60 s: one warning per cookie name at most this often
  minSecretLength: 32, // characters per --secret key
  retryAfterSeconds: 1 // Retry-After on 503 while the store is unreachable
}

/** Checks across settings, run once after each setting parsed on its own. */
export function checkGatewayConfig (c: GatewayConfig): string[] {
  const problems: string[] = []
  if (c.redis !== undefined && (c.secret === undefined || c.secret.length === 0)) {
    problems.push('--secret (PODSIDE_SECRET) is required with --redis: every node must sign cookies with the same key')
  }
  for (const [i, key] of (c.secret ?? []).entries()) {
    if (key.length < gatewayLimits.minSecretLength) {
      problems.push(`--secret (PODSIDE_SECRET): key ${i + 1} has ${key.length} characters, expected at least ${gatewayLimits.minSecretLength} (try: openssl rand -base64 32)`)
    }
  }
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(c.cookieName)) {
    problems.push(`--cookie-name (PODSIDE_COOKIE_NAME): expected a cookie name token (RFC 6265 §4.1.1), got ${JSON.stringify(c.cookieName)}`)
  }
  if (c.idleTimeout <= 0) problems.push(`--idle-timeout (PODSIDE_IDLE_TIMEOUT): expected more than 0, got ${formatDuration(c.idleTimeout)}`)
  if (c.absoluteTimeout < c.idleTimeout) {
    problems.push(`--absolute-timeout (PODSIDE_ABSOLUTE_TIMEOUT): expected at least --idle-timeout (${formatDuration(c.idleTimeout)}), got ${formatDuration(c.absoluteTimeout)}`)
  }
  if (c.redisTimeout <= 0) problems.push('--redis-timeout (PODSIDE_REDIS_TIMEOUT): expected more than 0, got 0')
  if (c.upstreamTimeout <= 0) problems.push('--upstream-timeout (PODSIDE_UPSTREAM_TIMEOUT): expected more than 0, got 0')
  problems.push(...checkListeners(c))
  if (c.tasks) problems.push(...checkTasksConfig(c))
  if (!c.tasks && c.schedules !== undefined) problems.push('--schedules (PODSIDE_SCHEDULES): schedules need --tasks (PODSIDE_TASKS) on the gateway')
  return problems
}
