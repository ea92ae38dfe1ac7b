import { defineError } from '../shared/errors.js'

/** The file proxy's error catalogue. Codes are stable: match on `code`; retired codes are never reused. */
export const BadPath = defineError('FP_ERR_BAD_PATH', 'Bad Request', 400)
export const Forbidden = defineError('FP_ERR_FORBIDDEN', 'Forbidden', 403)
export const NotFound = defineError('FP_ERR_NOT_FOUND', 'Not Found', 404)
export const MethodNotAllowed = defineError('FP_ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed', 405)
export const PreconditionFailed = defineError('FP_ERR_PRECONDITION_FAILED', 'Precondition Failed', 412)
export const RangeNotSatisfiable = defineError('FP_ERR_RANGE_NOT_SATISFIABLE', 'Range Not Satisfiable', 416)
export const ReadFailed = defineError('FP_ERR_READ', 'Internal Server Error', 500)
/** A streamed file changed while it was sent; the head was out, so the connection is cut instead. */
export const TornRead = defineError('FP_ERR_TORN_READ', 'Internal Server Error', 500)
/** The volume fails and the cached copy is older than --stale-if-error allows: try again later. */
export const VolumeUnavailable = defineError('FP_ERR_VOLUME_UNAVAILABLE', 'Service Unavailable', 503)
/** `podside purge`: one path longer than a purge message can hold (exit 2). */
export const PurgeTooLarge = defineError('FP_ERR_PURGE_TOO_LARGE', 'Content Too Large', 413)
