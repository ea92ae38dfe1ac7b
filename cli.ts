#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { ListenFailed } from './shared/common-errors.js'
import { hasCode } from './shared/errors.js'
import { ConfigError, envName, flagName, helpText, loadConfig } from './shared/load-config.js'
import { createLogger, sinkOf, type Logger } from './shared/logger.js'
import { LOG_SINK_DEFAULTS } from './shared/log-sink.js'
import type { Schema, Values } from './shared/setting-kinds.js'
import { checkGatewayConfig, gatewaySettings } from './gateway/settings.js'
import { createGateway } from './gateway/server.js'
import { checkFileproxyConfig, fileproxySettings } from './fileproxy/settings.js'
import { createFileproxy } from './fileproxy/server.js'
import { expandWait, publishPurge, purgeSettings } from './fileproxy/purge-command.js'
import { ackLines, nodeName, waitForAcks } from './fileproxy/purge-wait.js'
import { PurgeTooLarge } from './fileproxy/errors.js'
import { formatDuration } from './shared/units.js'
import { checkStatusSettings, printStatus, statusSettings } from './shared/fleet/status-command.js'
import { keyFromFilePath, normalisePrefix } from './fileproxy/request-path.js'
import { httpUrl } from './shared/setting-kinds.js'
import { commonSettings } from './shared/daemon-settings.js'
import { request } from 'undici'
import { checkWorkerConfig, workerSettings } from './tasks/settings.js'
import { createTasksWorker } from './tasks/worker.js'
import { runTaskClient, taskClientCommands, type TaskClientCommand } from './tasks/tasks-command.js'
import { runSchedulesCommand, schedulesCommand } from './tasks/schedules/schedules-command.js'

/** `podside <command>`: one executable for every daemon and tool. */
/** After a command finished, how long open handles may keep the process alive (ms). */
const EXIT_GRACE_MS = 2000

const COMMANDS: Record<string, { about: string, run: (argv: string[]) => Promise<number> }> = {
  gateway: {
    about: 'Session gateway: keeps the app\'s cookies in a server-side jar (Redis) so any node can serve any user.',
    run: runGateway
  },
  fileproxy: {
    about: 'Caching file proxy: serves a mounted volume from a byte-bounded memory cache, purged over Redis.',
    run: runFileproxy
  },
  purge: {
    about: 'Publishes one purge to every file proxy: `podside purge PATH…`, `--prefix P…` or `--all`; `--wait [TIMEOUT]` awaits their acknowledgements.',
    run: runPurge
  },
  url: {
    about: 'Prints the hash URL of PATH as the local file proxy sees it: `podside url PATH`.',
    run: runUrl
  },
  status: {
    about: 'Lists every daemon registered in Redis, one per line; exits 1 when one stopped heartbeating.',
    run: runStatus
  },
  tasks: {
    about: 'Network tasks: `podside tasks worker` runs them; add, list, show, retry, cancel manage the queue in Redis.',
    run: runTasks
  }
}

const TASKS_WORKER_ABOUT = 'Takes tasks from the queue and delivers them to the app (POST <upstream><tasks-path>/<name>); task API on the admin listener, no public listener.'

const version = (): string => (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

function usage (): string {
  return [
    'Usage: podside <command> [settings]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.about}`),
    '',
    'Every setting is a flag (--kebab-name) and an environment variable (PODSIDE_SCREAMING_NAME).',
    'Run `podside <command> --help` for its settings.',
    ''
  ].join('\n')
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage())
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') { process.stdout.write(version() + '\n'); return 0 }
  const cmd = COMMANDS[command]
  if (cmd === undefined) {
    process.stderr.write(`podside: unknown command ${JSON.stringify(command)}\n\n${usage()}`)
    return 2
  }
  return await cmd.run(rest)
}

/** Parses settings; handles --help and --check-config; exits 2 with every problem on bad input. */
function settingsOrExit<S extends Schema> (name: string, schema: S, argv: string[], check?: Parameters<typeof loadConfig<S>>[3], args = '', about = COMMANDS[name]?.about ?? '') {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText(`podside ${name} [settings]${args}`, about, schema))
    process.exit(0)
  }
  const checkOnly = argv.includes('--check-config')
  try {
    const loaded = loadConfig(schema, argv.filter((a) => a !== '--check-config'), process.env, check)
    if (checkOnly) {
      process.stdout.write(`podside ${name}: configuration is valid\n`)
      for (const [key, spec] of Object.entries(schema)) {
        const value = (loaded.values as Record<string, unknown>)[key]
        const shown = value === undefined ? 'not set' : spec.show(value)
        const from = loaded.sources[key]
        process.stdout.write(`  --${flagName(key)} = ${shown}   (from ${from === 'default' ? 'the default' : from}; ${envName(key)})\n`)
      }
      process.exit(0)
    }
    return loaded
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`podside ${name}: ${err.message}\nRun \`podside ${name} --help\` for every setting.\n`)
    process.exit(2)
  }
}

/** Runs one daemon until SIGTERM/SIGINT: parse settings, listen, stop gracefully. */
async function runDaemon<S extends Schema> (name: string, schema: S, check: Parameters<typeof loadConfig<S>>[3],
  create: (config: Values<S>, log: Logger) => { listen: () => Promise<unknown>, close: () => Promise<void> }, argv: string[], about?: string): Promise<number> {
  const { values: config, positionals } = settingsOrExit(name, schema, argv, check, '', about)
  if (positionals.length > 0) {
    process.stderr.write(`podside ${name}: unexpected argument ${JSON.stringify(positionals[0])}\n`)
    return 2
  }
  const log = createLogger({ name: name.replace(' ', '-'), level: (config as { logLevel: string }).logLevel })
  const daemon = create(config, log)
  try {
    await daemon.listen()
  } catch (err) {
    if (!hasCode(err, ListenFailed.code)) throw err
    process.stderr.write(`podside ${name}: ${(err as Error).message}\n`)
    log.flush()
    process.exit(1)
  }
  await untilSignal(log, async () => await daemon.close())
  // Every line written before exit (the access lines of the requests just drained among them);
  // a reader that stopped reading gets endMs, then the process exits without its lines.
  if (!(await sinkOf(log)?.end(LOG_SINK_DEFAULTS.endMs) ?? true)) process.exit(0)
  return 0
}

async function runGateway (argv: string[]): Promise<number> {
  return await runDaemon('gateway', gatewaySettings, checkGatewayConfig, (config, log) => createGateway(config, { log }), argv)
}

async function runFileproxy (argv: string[]): Promise<number> {
  return await runDaemon('fileproxy', fileproxySettings, checkFileproxyConfig, (config, log) => createFileproxy(config, { log }), argv)
}

async function runPurge (argv: string[]): Promise<number> {
  const args = ' PATH… | --prefix P… | --all'
  const { values: c, positionals } = settingsOrExit('purge', purgeSettings, expandWait(argv), (v) => [
    ...v.redis === undefined ? ['--redis (PODSIDE_REDIS, REDIS_URL) is required: where the file proxies subscribe'] : [],
    ...v.all && v.prefix ? ['--all and --prefix exclude each other'] : [],
    ...v.wait !== undefined && v.wait <= 0 ? [`--wait (PODSIDE_WAIT): expected a TIMEOUT above 0, got ${v.wait} ms`] : []
  ], args)
  if (c.all !== (positionals.length === 0)) {
    process.stderr.write(`podside purge: ${c.all ? '--all takes no paths' : 'name at least one path, or --all'}\nUsage: podside purge [settings]${args}\n`)
    return 2
  }
  const paths: string[] = []
  const prefixes: string[] = []
  for (const p of positionals) {
    try { (c.prefix ? prefixes : paths).push(c.prefix ? normalisePrefix(p) : keyFromFilePath(p)) } catch (err) {
      process.stderr.write(`podside purge: ${JSON.stringify(p)} is not a servable path: ${(err as Error).message}\n`)
      return 2
    }
  }
  const log = createLogger({ name: 'purge', level: 'error' })
  let late: string[] = []
  try {
    const { id, receivers } = await publishPurge(c.redis!, c.purgeChannel, { paths, prefixes, all: c.all }, log, async (client, published) => {
      process.stdout.write(`purge ${published.id} received by ${published.receivers} file prox${published.receivers === 1 ? 'y' : 'ies'}` +
        `${published.entries.length > 1 ? ` (in ${published.entries.length} messages)` : ''}\n`)
      if (c.wait === undefined) return
      const acks = await waitForAcks(client, c.purgeChannel, published.entries[published.entries.length - 1], { timeoutMs: c.wait })
      process.stdout.write(ackLines(acks))
      late = acks.length === 0 ? ['none is live in the fleet registry'] : acks.filter((a) => a.ms === undefined).map((a) => nodeName(a.node))
    })
    if (late.length > 0) {
      process.stderr.write(`podside purge: ${id}: ${late.length} file prox${late.length === 1 ? 'y' : 'ies'} did not acknowledge within ${formatDuration(c.wait!)}: ${late.join(', ')}\n`)
      return 1
    }
    return receivers === 0 ? 1 : 0
  } catch (err) {
    process.stderr.write(`podside purge: ${(err as Error).message}\n`)
    return hasCode(err, PurgeTooLarge.code) ? 2 : 1
  } finally {
    log.flush()
  }
}

async function runUrl (argv: string[]): Promise<number> {
  const schema = {
    admin: httpUrl('the file proxy\'s admin listener', { default: new URL('http://127.0.0.1:9902') }),
    adminToken: commonSettings.adminToken
  }
  const { values, positionals } = settingsOrExit('url', schema, argv, undefined, ' PATH')
  if (positionals.length !== 1) {
    process.stderr.write('podside url: name exactly one PATH, e.g. podside url /avatars/42.png\n')
    return 2
  }
  const target = new URL('/v1/url', values.admin)
  target.searchParams.set('path', positionals[0])
  try {
    const res = await request(target, { headers: values.adminToken === undefined ? {} : { authorization: `Bearer ${values.adminToken}` } })
    const body = await res.body.json() as { url?: string, error?: { code: string, message: string } }
    if (res.statusCode !== 200 || body.url === undefined) {
      process.stderr.write(`podside url: ${body.error?.code ?? res.statusCode}: ${body.error?.message ?? 'unexpected answer'}\n`)
      return 1
    }
    process.stdout.write(body.url + '\n')
    return 0
  } catch (err) {
    process.stderr.write(`podside url: cannot reach the file proxy admin at ${values.admin.href}: ${(err as Error).message}\n`)
    return 1
  }
}

async function runStatus (argv: string[]): Promise<number> {
  const { values, positionals } = settingsOrExit('status', statusSettings, argv, checkStatusSettings)
  if (positionals.length > 0) {
    process.stderr.write(`podside status: unexpected argument ${JSON.stringify(positionals[0])}\n`)
    return 2
  }
  return await printStatus(values)
}

async function runTasks (argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'worker') {
    return await runDaemon('tasks worker', workerSettings, checkWorkerConfig, (config, log) => createTasksWorker(config, { log }), rest, TASKS_WORKER_ABOUT)
  }
  if (sub === 'schedules') {
    const { values, positionals } = settingsOrExit('tasks schedules', schedulesCommand.schema, rest, (v) =>
      v.redis === undefined ? ['--redis (PODSIDE_REDIS, REDIS_URL) is required: where the schedules are'] : [], schedulesCommand.args, schedulesCommand.about)
    return await runSchedulesCommand(values, positionals, { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) })
  }
  if (sub !== undefined && Object.hasOwn(taskClientCommands, sub)) {
    const cmd = taskClientCommands[sub as TaskClientCommand]
    const { values, positionals } = settingsOrExit(`tasks ${sub}`, cmd.schema as typeof taskClientCommands.add.schema, rest, (v) =>
      v.redis === undefined ? ['--redis (PODSIDE_REDIS, REDIS_URL) is required: where the queue is'] : [], cmd.args, cmd.about)
    return await runTaskClient(sub as TaskClientCommand, values as unknown as Parameters<typeof runTaskClient>[1], positionals, {
      stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s)
    })
  }
  const lines = [`  ${'worker'.padEnd(9)} ${TASKS_WORKER_ABOUT}`, ...Object.entries(taskClientCommands).map(([name, c]) => `  ${name.padEnd(9)} ${c.about}`),
    `  ${'schedules'.padEnd(9)} ${schedulesCommand.about}`]
  const text = `Usage: podside tasks <command> [settings]\n\nCommands:\n${lines.join('\n')}\n\nRun \`podside tasks <command> --help\` for its settings.\n`
  if (sub === '--help' || sub === '-h') { process.stdout.write(text); return 0 }
  process.stderr.write((sub === undefined ? '' : `podside tasks: unknown command ${JSON.stringify(sub)}\n\n`) + text)
  return 2
}

/** SIGTERM/SIGINT: graceful stop; a second signal exits at once. */
async function untilSignal (log: Logger, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) { log.warn({ signal }, 'second signal: exiting now'); log.flush(); process.exit(1) }
      stopping = true
      log.info({ signal }, 'signal received')
      stop().then(resolve, (err: unknown) => { log.error({ err }, 'error while stopping'); resolve() })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // The work is done: a handle a library left open (a Cluster client still reconnecting to a
  // killed node) must not keep a command running, so exit once EXIT_GRACE_MS has passed.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref()
}, (err: unknown) => {
  process.stderr.write(`podside: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
  setTimeout(() => process.exit(1), EXIT_GRACE_MS).unref()
})
