import { parseListenAddress, type ListenAddress } from './address.js'
import { parseRedisUrl, redact, type RedisTarget } from './redis-url.js'
import { formatDuration, formatSize, parseDuration, parseSize } from './units.js'

/**
 * One setting of a daemon: how to read it from text, its default, and the line `--help` prints.
 * `parse` returns the value, or a string that says what was expected (the loader adds the
 * setting's name and the value received).
 */
export interface Setting<T> {
  /** `<duration>`, `<size>`… shown in `--help`. */
  readonly kind: string
  readonly help: string
  readonly default: T | undefined
  readonly required: boolean
  /** Also read from this environment variable when neither the flag nor PODSIDE_* is set. */
  readonly envFallback?: string
  /** Flags that take no value (`--trust-proxy`) are booleans. */
  readonly isBoolean?: boolean
  parse (text: string): T | Problem
  show (value: T): string
  /** What may be echoed of a bad value in an error (a secret's never is; an address's password is masked). */
  echo?: (text: string) => string
}

export class Problem {
  constructor (readonly expected: string) {}
}

export type Schema = Record<string, Setting<any>>
/** The parsed settings. A setting with neither a default nor `required` is typed `T | undefined`. */
export type Values<S extends Schema> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never
}

interface Options<T> { default?: T, required?: boolean, envFallback?: string }

function setting<T> (kind: string, help: string, opts: Options<T>, parse: (text: string) => T | Problem,
  show: (value: T) => string = String): Setting<T> {
  return { kind, help, default: opts.default, required: opts.required ?? false, envFallback: opts.envFallback, parse, show }
}

export function text (help: string, opts: Options<string> = {}): Setting<string> {
  return setting('<text>', help, opts, (t) => t === '' ? new Problem('a non-empty value') : t)
}

export function duration (help: string, opts: Options<number>): Setting<number> {
  return setting('<duration>', help, opts,
    (t) => parseDuration(t) ?? new Problem('a duration like 250ms, 30s, 15m, 2h or 7d'), formatDuration)
}

export function size (help: string, opts: Options<number>): Setting<number> {
  return setting('<size>', help, opts,
    (t) => parseSize(t) ?? new Problem('a size like 512KiB, 64MiB, 1GiB or a number of bytes'), formatSize)
}

export function boolean (help: string, opts: Options<boolean>): Setting<boolean> {
  const s = setting<boolean>('', help, opts, (t) => {
    if (t === 'true' || t === '1') return true
    if (t === 'false' || t === '0') return false
    return new Problem('true or false')
  })
  return { ...s, isBoolean: true }
}

export function oneOf<C extends string> (choices: readonly C[], help: string, opts: Options<C>): Setting<C> {
  return setting(`<${choices.join('|')}>`, help, opts, (t) =>
    (choices as readonly string[]).includes(t) ? t as C : new Problem(`one of ${choices.join(', ')}`))
}

/** `allowEmpty`: an empty value or `none` is the empty list (a way to turn a default list off). */
export function list (help: string, opts: Options<readonly string[]> & { allowEmpty?: boolean } = {}): Setting<readonly string[]> {
  return setting('<a,b,…>', help, opts, (t) => {
    if (opts.allowEmpty === true && (t.trim() === '' || t.trim() === 'none')) return []
    const items = t.split(',').map((s) => s.trim())
    return items.some((s) => s === '') ? new Problem('a comma-separated list without empty items') : items
  }, (v) => v.length === 0 ? 'none' : v.join(','))
}

export function listenAddress (help: string, opts: Options<ListenAddress>): Setting<ListenAddress> {
  return setting('<host:port>', help, opts,
    (t) => parseListenAddress(t) ?? new Problem('host:port, e.g. 0.0.0.0:8080 or [::1]:8080'),
    (v) => v.host.includes(':') ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`)
}

export function httpUrl (help: string, opts: Options<URL> = {}): Setting<URL> {
  return setting('<url>', help, opts, (t) => {
    let url: URL
    try { url = new URL(t) } catch { return new Problem('an http:// URL such as http://127.0.0.1:3000') }
    if (url.protocol !== 'http:') return new Problem('an http:// URL such as http://127.0.0.1:3000')
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
      return new Problem('an http:// URL without credentials, query or fragment')
    }
    return url
  }, (u) => u.href)
}

export function redisUrl (help: string, opts: Options<RedisTarget | undefined> = {}): Setting<RedisTarget | undefined> {
  const s = setting<RedisTarget | undefined>('<url>', help, opts, (t) => {
    const target = parseRedisUrl(t)
    return typeof target === 'string' ? new Problem(target) : target
  }, (v) => v === undefined ? 'none' : v.href)
  return { ...s, echo: redact }
}

/** A secret (a token, signing keys): never shown, never echoed; `--check-config` says only that it is set. */
export function secretText (help: string, opts: Options<string> & { minLength?: number } = {}): Setting<string> {
  const min = opts.minLength ?? 1
  const s = setting('<secret>', help, opts, (t) => t.length < min ? new Problem(`at least ${min} characters`) : t,
    (v) => `set (${v.length} characters)`)
  return { ...s, echo: () => '(hidden)' }
}

/** Comma-separated secrets (signing keys): as `secretText`. */
export function secretList (help: string, opts: Options<readonly string[]> = {}): Setting<readonly string[]> {
  const s = list(help, opts)
  return { ...s, kind: '<secret,…>', show: (v) => `${v.length} key(s)`, echo: () => '(hidden)' }
}
