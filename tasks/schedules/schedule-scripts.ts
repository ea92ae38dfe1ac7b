/**
 * The Redis scripts of schedules, together (asynq keeps its scripts in one file for the same
 * reason: they are the whole concurrency story). Every key is under the queue's hash tag.
 *
 * Time is Redis TIME (`ARGV` skew is 0 outside tests, which use it to jump hours ahead): node
 * clocks never decide whether a tick is due. A script runs alone on its master, so "read lastTick,
 * compare, write lastTick" cannot interleave with another node's: of N claimers one wins.
 */

/** KEYS[1] schedule hash. ARGV: due, next, recoverMs, skewMs. */
export const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone', now} end
local due = tonumber(ARGV[1])
if now < due or now >= tonumber(ARGV[2]) then return {'window', now} end
local f = redis.call('HMGET', KEYS[1], 'lastTick', 'pending', 'claimedAt', 'lastTaskId')
if not f[1] then
  redis.call('HSET', KEYS[1], 'lastTick', due)
  return {'baseline', now}
end
if due > tonumber(f[1]) then
  redis.call('HSET', KEYS[1], 'lastTick', due, 'pending', due, 'claimedAt', now)
  return {'claimed', now, due, f[4] or ''}
end
if f[2] and now - tonumber(f[3]) >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'claimedAt', now)
  return {'recover', now, tonumber(f[2]), f[4] or ''}
end
return {'idle', now}
`

/** KEYS[1] schedule hash. ARGV: tick, lastRun JSON, taskId ('' for none). */
export const RECORD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'pending') == ARGV[1] then redis.call('HDEL', KEYS[1], 'pending', 'claimedAt') end
redis.call('HSET', KEYS[1], 'lastRun', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'lastTaskId', ARGV[3]) end
return 1
`

/** KEYS[1] set of names, KEYS[2] schedule hash. ARGV: name, definition. */
export const PUT = `
local old = redis.call('HGET', KEYS[2], 'def')
redis.call('SADD', KEYS[1], ARGV[1])
if old == ARGV[2] then return 'unchanged' end
redis.call('HSET', KEYS[2], 'def', ARGV[2])
if old then return 'updated' end
return 'created'
`

/** KEYS[1] set of names, KEYS[2] schedule hash. ARGV: name. */
export const DELETE = `
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2])
`
