import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { bucketOfId } from './store/slots.js'

/** 24 random bytes: 192 bits, above the 128 the contract asks for; base64url, so 32 characters. */
const ID_BYTES = 24
export const SESSION_ID = /^[A-Za-z0-9_-]{32}$/
/** HMAC-SHA256 is 32 bytes: 43 base64url characters. */
const MAC_LENGTH = 43

/**
 * A random id whose Cluster slot is a bucket slot (slots.ts), so that under Redis Cluster the
 * session can be cached with its invalidations on a shard channel: drawn again until it is (1 in
 * 16), which keeps it uniform among such ids (188 bits of its 192 stay random).
 */
export function newSessionId (): string {
  for (;;) {
    const id = randomBytes(ID_BYTES).toString('base64url')
    if (bucketOfId(id) !== -1) return id
  }
}

export interface Signer {
  /** `<id>.<mac>`: what the browser holds. */
  sign (id: string): string
  /** The id when some key's MAC matches, else undefined. Ids are never taken on the client's word. */
  verify (value: string): string | undefined
}

/** HMAC-SHA256 over the id. The first key signs; every key verifies, so keys can be rotated. */
export function createSigner (keys: readonly string[]): Signer {
  const mac = (key: string, id: string): string => createHmac('sha256', key).update(id).digest('base64url')
  // Values already verified (the whole `<id>.<mac>` string, so nothing unverified can hit it):
  // an HMAC per request was ~2% of the gateway's CPU. Keys never change within a process.
  const verified = new LRUCache<string, string>({ max: 10_000 })
  return {
    sign: (id) => `${id}.${mac(keys[0], id)}`,
    verify (value) {
      const known = verified.get(value)
      if (known !== undefined) return known
      const id = check(value)
      if (id !== undefined) verified.set(value, id)
      return id
    }
  }

  function check (value: string): string | undefined {
    const dot = value.indexOf('.')
    const id = value.slice(0, dot)
    if (dot !== 32 || !SESSION_ID.test(id) || value.length !== 32 + 1 + MAC_LENGTH) return undefined
    // The encoded text is compared, not the decoded bytes: the last base64url character carries
    // unused bits, so decoding would accept several spellings of one MAC.
    const given = Buffer.from(value.slice(dot + 1))
    // Every key is tried in constant time, so timing does not reveal which key matched.
    let ok = false
    for (const key of keys) ok = timingSafeEqual(given, Buffer.from(mac(key, id))) || ok
    return ok ? id : undefined
  }
}

export interface BrowserCookies {
  /** The gateway cookie's value; undefined when absent or ambiguous. */
  sessionValue: string | undefined
  /** Two different values of the gateway cookie (cookie tossing from a sibling domain). */
  ambiguous: boolean
  /** The browser's other cookies, as `name=value` pairs exactly as they arrived. */
  others: Array<{ name: string, pair: string }>
}

/**
 * Splits the browser's Cookie header (RFC 6265 §4.2.1: `name=value` pairs joined by `; `). Hand
 * written rather than the `cookie` package: that one decodes values and keeps only the first of
 * duplicate names, but we must pass other cookies on byte for byte and must see duplicates of ours.
 */
export function readBrowserCookies (header: string | undefined, cookieName: string): BrowserCookies {
  const result: BrowserCookies = { sessionValue: undefined, ambiguous: false, others: [] }
  if (header === undefined || header === '') return result
  for (const raw of header.split(';')) {
    const pair = raw.trim()
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = eq === -1 ? '' : pair.slice(0, eq).trim()
    if (name === cookieName) {
      const value = pair.slice(eq + 1).trim()
      if (result.sessionValue !== undefined && result.sessionValue !== value) result.ambiguous = true
      result.sessionValue = value
    } else {
      result.others.push({ name, pair })
    }
  }
  if (result.ambiguous) result.sessionValue = undefined
  return result
}

export interface SessionCookieOptions {
  name: string
  secure: boolean
  /** `--cookie-samesite`; Lax when not given. */
  sameSite?: 'lax' | 'strict' | 'none'
  maxAgeSeconds?: number
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const

/** The browser's session cookie: HttpOnly, Path=/, SameSite per setting, Secure per request. */
export function sessionSetCookie (value: string, opts: SessionCookieOptions): string {
  const sameSite = opts.sameSite ?? 'lax'
  let line = `${opts.name}=${value}; Path=/; HttpOnly; SameSite=${SAME_SITE[sameSite]}`
  if (opts.maxAgeSeconds !== undefined) line += `; Max-Age=${opts.maxAgeSeconds}`
  // Browsers refuse SameSite=None without Secure (RFC 6265bis §5.7), so none implies it.
  if (opts.secure || sameSite === 'none') line += '; Secure'
  return line
}

/** Expires the browser's session cookie (RFC 6265 §5.3 step 11: same name, domain and path). */
export function expiredSessionCookie (opts: SessionCookieOptions): string {
  return sessionSetCookie('', { ...opts, maxAgeSeconds: 0 })
}
