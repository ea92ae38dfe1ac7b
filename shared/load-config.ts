import { ConfigError } from './common-errors.js'
import { Problem, type Schema, type Setting, type Values } from './setting-kinds.js'

export { ConfigError }

export function flagName (key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

export function envName (key: string): string {
  return 'PODSIDE_' + flagName(key).replace(/-/g, '_').toUpperCase()
}

export interface Loaded<S extends Schema> {
  values: Values<S>
  positionals: readonly string[]
  /** Where each value came from: `--flag`, `PODSIDE_*`, a fallback variable (`REDIS_URL`), or `default`. */
  sources: Readonly<Record<keyof S, string>>
}

/**
 * Reads every setting of `schema` from flags (`--kebab-name value` or `--kebab-name=value`), then
 * `PODSIDE_SCREAMING_NAME`, then the setting's own fallback variable, then its default. Every problem
 * is collected (unknown flags, bad values, missing required settings, and what `check` finds across
 * settings) and thrown together as one ConfigError; the result is frozen.
 */
export function loadConfig<S extends Schema> (schema: S, argv: readonly string[], env: NodeJS.ProcessEnv,
  check?: (values: Values<S>) => string[]): Loaded<S> {
  const problems: string[] = []
  const byFlag = new Map(Object.keys(schema).map((key) => [flagName(key), key]))
  const fromFlags = new Map<string, string>()
  const positionals: string[] = []

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--') || arg === '--') {
      if (arg === '--') { positionals.push(...argv.slice(i + 1)); break }
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const key = byFlag.get(name)
    if (key === undefined) { problems.push(`unknown flag --${name}`); continue }
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1)
    if (value === undefined) {
      // A boolean takes a following `true`/`false` (`--compress false`); alone it means true.
      if (schema[key].isBoolean === true) value = argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i] : 'true'
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i]
      else { problems.push(`--${name} needs a value`); continue }
    }
    fromFlags.set(key, value)
  }

  const values: Record<string, unknown> = {}
  const sources: Record<string, string> = {}
  for (const [key, spec] of Object.entries(schema) as Array<[string, Setting<unknown>]>) {
    const source = sourceOf(key, spec, fromFlags, env)
    sources[key] = source?.label ?? 'default'
    if (source === undefined) {
      if (spec.required) problems.push(`--${flagName(key)} (${envName(key)}) is required: ${spec.help}`)
      values[key] = spec.default
      continue
    }
    const parsed = spec.parse(source.text)
    if (parsed instanceof Problem) {
      const shown = spec.echo === undefined ? source.text : spec.echo(source.text)
      problems.push(`${source.label}: expected ${parsed.expected}, got ${JSON.stringify(shown)}`)
      values[key] = spec.default
    } else {
      values[key] = parsed
    }
  }

  // Cross-setting checks run even when a setting was bad (it holds its default then), so one run
  // reports every problem.
  if (check !== undefined) problems.push(...check(values as Values<S>))
  if (problems.length > 0) throw new ConfigError(problems)
  return { values: deepFreeze(values) as Values<S>, positionals: Object.freeze(positionals), sources: Object.freeze(sources) as Record<keyof S, string> }
}

function sourceOf (key: string, spec: Setting<unknown>, flags: Map<string, string>, env: NodeJS.ProcessEnv) {
  const flag = flags.get(key)
  if (flag !== undefined) return { text: flag, label: `--${flagName(key)}` }
  const name = envName(key)
  if (env[name] !== undefined && env[name] !== '') return { text: env[name] as string, label: name }
  const fallback = spec.envFallback
  if (fallback !== undefined && env[fallback] !== undefined && env[fallback] !== '') {
    return { text: env[fallback] as string, label: fallback }
  }
  return undefined
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof URL)) {
    Object.freeze(value)
    for (const v of Object.values(value as object)) deepFreeze(v)
  }
  return value
}

/** The `--help` text: usage line, then one line per setting with its default and variable. */
export function helpText (usage: string, about: string, schema: Schema, extra: readonly string[] = []): string {
  const rows = Object.entries(schema).map(([key, spec]) => {
    const left = `  --${flagName(key)}${spec.kind === '' ? '' : ' ' + spec.kind}`
    const dflt = spec.required ? 'required' : spec.default === undefined ? 'not set' : `default ${spec.show(spec.default)}`
    const vars = [envName(key), spec.envFallback].filter(Boolean).join(', ')
    return `${left}\n      ${spec.help} (${dflt}; ${vars})`
  })
  return [`Usage: ${usage}`, '', about, '', 'Settings (flag, or environment variable; the flag wins):', ...rows,
    '  --check-config\n      validate the settings, print them, exit 0 (valid) or 2 (invalid)',
    '  --help\n      this text', ...extra, ''].join('\n')
}
