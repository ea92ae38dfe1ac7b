import { defineError } from '../shared/errors.js'

/** The tasks' error catalogue. Codes are stable: match on `code`; retired codes are never reused. */
export const BadTask = defineError('TASK_ERR_BAD_TASK', 'invalid task', 400)
export const PayloadTooLarge = defineError('TASK_ERR_PAYLOAD_TOO_LARGE', 'payload over 1 MiB', 413)
export const TaskNotFound = defineError('TASK_ERR_NOT_FOUND', 'no such task', 404)
export const TaskRunning = defineError('TASK_ERR_RUNNING', 'the task is running', 409)
export const TaskNotRetryable = defineError('TASK_ERR_NOT_RETRYABLE', 'only a dead or cancelled task can be retried', 409)
export const TaskStoreUnavailable = defineError('TASK_ERR_STORE_UNAVAILABLE', 'the task store (Redis) did not answer', 503)
export const NoTaskNodes = defineError('TASK_ERR_NO_NODES', 'no live node runs tasks', 503)
export const TaskMethodNotAllowed = defineError('TASK_ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed', 405)
