import type { Logger } from './logger.js'

/** What every daemon is given. */
export interface DaemonDeps {
  log: Logger
  /** Injected time (epoch ms), so tests can move past timeouts without waiting. */
  clock?: () => number
}

/** What every daemon (`podside gateway`, `podside fileproxy`) is to the CLI and to tests. */
export interface Daemon {
  listen (): Promise<{ url: string, adminUrl: string }>
  /** Stops accepting, lets requests in flight finish (up to --shutdown-timeout), closes Redis. */
  close (): Promise<void>
}
