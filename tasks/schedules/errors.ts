import { defineError } from '../../shared/errors.js'

/** The schedules' error catalogue. Codes are stable: match on `code`; retired codes are never reused. */
export const ScheduleBadRequest = defineError('SCHED_ERR_BAD_REQUEST', 'Bad Request', 400)
export const ScheduleNotFound = defineError('SCHED_ERR_NOT_FOUND', 'no such schedule', 404)
export const ScheduleMethodNotAllowed = defineError('SCHED_ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed', 405)
export const ScheduleTooLarge = defineError('SCHED_ERR_TOO_LARGE', 'Payload Too Large', 413)
/** Redis did not answer: nothing was changed, try again after Retry-After. */
export const ScheduleUnavailable = defineError('SCHED_ERR_UNAVAILABLE', 'the schedule store (Redis) did not answer', 503)
