import { defineError } from './errors.js'

/**
 * The catalogue of errors every daemon shares: the admin listener's and the configuration's.
 * Codes are stable: match on `code`; retired codes are never reused.
 */
export const Internal = defineError('ERR_INTERNAL', 'Internal Server Error', 500)
export const AdminNotFound = defineError('ADMIN_ERR_NOT_FOUND', 'Not Found', 404)
export const AdminBadRequest = defineError('ADMIN_ERR_BAD_REQUEST', 'Bad Request', 400)
export const AdminInternal = defineError('ADMIN_ERR_INTERNAL', 'Internal Server Error', 500)
export const AdminUnauthorized = defineError('ADMIN_ERR_UNAUTHORIZED', 'Unauthorized', 401)
/** A listener could not bind at start (port taken, address not local); the process exits 1. */
export const ListenFailed = defineError('ERR_LISTEN', 'cannot listen', 500)
export const FleetNoRedis = defineError('FLEET_ERR_NO_REDIS', 'no fleet registry: this node runs without --redis', 404)
export const FleetUnavailable = defineError('FLEET_ERR_UNAVAILABLE', 'the fleet registry (Redis) did not answer', 503)
const ConfigInvalid = defineError('CFG_ERR_INVALID', 'invalid configuration', 400)

/** Thrown once with every problem found; the CLI prints them and exits 2. */
export class ConfigError extends ConfigInvalid {
  readonly problems: readonly string[]
  constructor (problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}
