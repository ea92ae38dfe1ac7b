import type { IncomingMessage } from 'node:http'
import { NotFound } from './errors.js'

/**
 * With `--tasks`, the app's task endpoints (`--tasks-path`) are for its sidecar alone: a public
 * request under that path is a 404 however it is spelled (percent-encoded, any case, dot segments,
 * doubled or back slashes), since the app may normalise the path before routing it.
 */
export function refuseTasksPath (req: IncomingMessage, tasksPath: string | undefined): void {
  if (tasksPath !== undefined && underTasksPath(req.url ?? '/', tasksPath)) throw new NotFound('Not Found')
}

export function underTasksPath (target: string, tasksPath: string): boolean {
  let path = target.split('?')[0]
  for (let i = 0; i < 3 && path.includes('%'); i++) {
    try { path = decodeURIComponent(path) } catch { break }
  }
  let normal: string
  try { normal = new URL(path.replace(/\\/g, '/').replace(/\/{2,}/g, '/'), 'http://gateway').pathname } catch { normal = path }
  normal = normal.toLowerCase().replace(/\/{2,}/g, '/')
  const prefix = tasksPath.toLowerCase()
  return normal === prefix || normal.startsWith(prefix + '/')
}
