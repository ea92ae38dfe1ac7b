import { defineError } from '../shared/errors.js'

/** The gateway's error catalogue. Codes are stable: match on `code`; retired codes are never reused. */
export const BadRequest = defineError('GW_ERR_BAD_REQUEST', 'Bad Request', 400)
export const UpstreamUnreachable = defineError('GW_ERR_UPSTREAM_UNREACHABLE', 'Bad Gateway', 502)
export const UpstreamTimeout = defineError('GW_ERR_UPSTREAM_TIMEOUT', 'Gateway Timeout', 504)
export const UpstreamFailed = defineError('GW_ERR_UPSTREAM_FAILED', 'Bad Gateway', 502)
export const StoreUnavailable = defineError('GW_ERR_STORE_UNAVAILABLE', 'Service Unavailable', 503)
export const NotFound = defineError('GW_ERR_NOT_FOUND', 'Not Found', 404)
export const MethodNotAllowed = defineError('GW_ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed', 405)
/** The browser left before its answer: the request to the app is aborted (499, nginx's convention). */
export const ClientGone = defineError('GW_ERR_CLIENT_GONE', 'client gone', 499)
