import { relative, sep } from 'node:path'
import { watch, type FSWatcher } from 'chokidar'
import type { Logger } from '../shared/logger.js'
import type { PurgeSpec } from './purge-message.js'

/**
 * `--watch`: purges what changes under --root, as the files change. OS events do not cross hosts
 * on NFS or GlusterFS; `--watch-poll` stats every file instead (costly on a large volume, which is
 * why Redis purges remain the primary way).
 */
export function createWatcher (root: string, opts: { poll: boolean, intervalMs: number, log: Logger, purge: (spec: PurgeSpec) => void }): {
  ready: Promise<void>
  close: () => Promise<void>
} {
  const watcher: FSWatcher = watch(root, {
    ignoreInitial: true,
    usePolling: opts.poll,
    interval: opts.intervalMs,
    followSymlinks: false,
    ignored: (path: string) => relative(root, path).split(sep).some((s) => s.startsWith('.'))
  })
  const keyOf = (path: string): string => '/' + relative(root, path).split(sep).join('/')
  for (const event of ['add', 'change', 'unlink'] as const) {
    watcher.on(event, (path: string) => opts.purge({ paths: [keyOf(path)], prefixes: [], all: false }))
  }
  watcher.on('unlinkDir', (path: string) => opts.purge({ paths: [], prefixes: [keyOf(path) + '/'], all: false }))
  watcher.on('error', (err: unknown) => opts.log.warn({ err }, 'watcher error'))
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()))
  return { ready, close: async () => await watcher.close() }
}
