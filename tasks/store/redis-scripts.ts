/**
 * Every Redis script of the queue, in one place (asynq keeps its scripts together the same way).
 * Each takes KEYS[1] = the queue's stream, only to route the call under Cluster: the other keys
 * share its hash tag (task-keys.ts), so they live on the same node, and are built from ARGV[1], the
 * queue's prefix. A record's `attempts` field is the attempts as JSON objects joined by commas
 * (appending is a string concatenation, no JSON parse in Lua).
 */

const FINISHED = "st == 'done' or st == 'dead' or st == 'cancelled'"

/** Writes a task whole, or returns the unfinished holder of its key: ARGV prefix, id, now, key, dueAt, retention, nFields, fields…, nodes… */
export const ADD = `
local p, id, now, key, due, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local nf = tonumber(ARGV[7])
local fields = {}
for i = 8, 7 + nf * 2 do fields[#fields + 1] = ARGV[i] end
local nodes = {}
for i = 8 + nf * 2, #ARGV do nodes[#nodes + 1] = ARGV[i] end
if key ~= '' then
  local holder = redis.call('GET', p .. ':key:' .. key)
  if holder then
    local st = redis.call('HGET', p .. ':task:' .. holder, 'state')
    local held = st and not (${FINISHED})
    local children = held and redis.call('HGET', p .. ':task:' .. holder, 'children')
    if children then
      -- an \`on: every\` task holds its key while one of its copies is unfinished
      held = false
      for c in string.gmatch(children, '[^,]+') do
        local cs = redis.call('HGET', p .. ':task:' .. c, 'state')
        if cs and not (cs == 'done' or cs == 'dead' or cs == 'cancelled') then held = true end
      end
    end
    if held then return {holder, st, 1} end
  end
end
local state = 'queued'
if due ~= '' and tonumber(due) > now then state = 'delayed' end
local function put (tid, node)
  local k = p .. ':task:' .. tid
  redis.call('HSET', k, unpack(fields))
  redis.call('HSET', k, 'id', tid, 'state', state, 'stateAt', now, 'attempt', 0)
  if due ~= '' then redis.call('HSET', k, 'due', due) end
  if node then redis.call('HSET', k, 'node', node) end
  if state == 'delayed' then
    redis.call('ZADD', p .. ':delayed', due, tid)
  elseif node then
    redis.call('XADD', p .. ':node:' .. node, '*', 'id', tid)
    -- a node gone for good leaves its stream behind: it expires unless copies keep coming
    redis.call('PEXPIRE', p .. ':node:' .. node, retention)
  else
    redis.call('XADD', p .. ':stream', '*', 'id', tid)
  end
  redis.call('ZADD', p .. ':state:' .. state, now, tid)
end
if #nodes > 0 then
  local children = {}
  for i, node in ipairs(nodes) do
    children[i] = id .. '-' .. i
    put(children[i], node)
  end
  local k = p .. ':task:' .. id
  redis.call('HSET', k, unpack(fields))
  redis.call('HSET', k, 'id', id, 'state', state, 'stateAt', now, 'attempt', 0, 'children', table.concat(children, ','))
  redis.call('PEXPIRE', k, retention)
else
  put(id, nil)
end
if key ~= '' then redis.call('SET', p .. ':key:' .. key, id) end
return {id, state, 0}
`

/** Lua: marks one taken entry running (or drops it when its task is gone or finished); appends to `out`. */
const START_ONE = `
local function start_one (p, group, node, now, s, e, tid, out)
  local k = p .. ':task:' .. tid
  local st = redis.call('HGET', k, 'state')
  if (not st) or ${FINISHED} or st == 'delayed' then
    redis.call('XACK', s, group, e)
    redis.call('XDEL', s, e)
    return
  end
  local over = 0
  if st == 'running' then
    over = 1
    local lost = cjson.encode({n = tonumber(redis.call('HGET', k, 'attempt')), node = redis.call('HGET', k, 'runner'),
      start = tonumber(redis.call('HGET', k, 'stateAt')), durationMs = now - tonumber(redis.call('HGET', k, 'stateAt')),
      outcome = 'retry', error = 'lease expired: taken over by another node'})
    local a = redis.call('HGET', k, 'attempts')
    redis.call('HSET', k, 'attempts', a and (a .. ',' .. lost) or lost)
  end
  local n = redis.call('HINCRBY', k, 'attempt', 1)
  redis.call('ZREM', p .. ':state:' .. st, tid)
  redis.call('HSET', k, 'state', 'running', 'stateAt', now, 'runner', node)
  redis.call('ZADD', p .. ':state:running', now, tid)
  out[#out + 1] = {s, e, n, over, redis.call('HGETALL', k)}
end
`

/** Marks entries already read running: ARGV prefix, group, node, now, (stream, entry, id)… → {stream, entry, attempt, takenOver, fields}… */
export const START = `${START_ONE}
local p, group, node, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 3 do start_one(p, group, node, now, ARGV[i], ARGV[i + 1], ARGV[i + 2], out) end
return out
`

/**
 * Reads up to `count` new entries for `node` (shared stream and its own) and marks them running, in
 * one round trip: ARGV prefix, group, node, now, count, own stream. (XREADGROUP never blocks in a
 * script; the caller blocks on its own connection only when this found nothing.)
 */
export const TAKE = `${START_ONE}
local p, group, node, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
local read = redis.call('XREADGROUP', 'GROUP', group, node, 'COUNT', tonumber(ARGV[5]), 'STREAMS', p .. ':stream', ARGV[6], '>', '>')
if not read then return out end
for _, stream in ipairs(read) do
  for _, entry in ipairs(stream[2]) do
    local f = entry[2]
    local tid
    for i = 1, #f, 2 do if f[i] == 'id' then tid = f[i + 1] end end
    start_one(p, group, node, now, stream[1], entry[1], tid, out)
  end
end
return out
`

const APPEND_ATTEMPT = `
local a = redis.call('HGET', k, 'attempts')
redis.call('HSET', k, 'attempts', a and (a .. ',' .. ARGV[7]) or ARGV[7])
if redis.call('HGET', k, 'state') ~= 'running' or redis.call('HGET', k, 'attempt') ~= ARGV[6] then return 0 end
redis.call('ZREM', p .. ':state:running', tid)
`

const RELEASE_KEY = `
local key = redis.call('HGET', k, 'key')
if key and redis.call('GET', p .. ':key:' .. key) == tid then redis.call('DEL', p .. ':key:' .. key) end
`

/** ARGV prefix, group, stream, entry, id, attempt n, attempt JSON, next, dueAt, now, retention */
export const FINISH = `
local p, group, s, e, tid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local nxt, due, now, retention = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
redis.call('XACK', s, group, e)
redis.call('XDEL', s, e)
local k = p .. ':task:' .. tid
if redis.call('EXISTS', k) == 0 then return 0 end
${APPEND_ATTEMPT}
if nxt == 'delayed' then
  redis.call('HSET', k, 'state', 'delayed', 'stateAt', now, 'due', due)
  redis.call('ZADD', p .. ':delayed', due, tid)
else
  redis.call('HSET', k, 'state', nxt, 'stateAt', now, 'finished', now)
  if nxt == 'done' then redis.call('PEXPIRE', k, retention) end
  ${RELEASE_KEY}
end
redis.call('ZADD', p .. ':state:' .. nxt, now, tid)
return 1
`

/** ARGV as FINISH (next and dueAt unused): back in line at once, the attempt not counted. */
export const HAND_BACK = `
local p, group, s, e, tid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[10]
redis.call('XACK', s, group, e)
redis.call('XDEL', s, e)
local k = p .. ':task:' .. tid
if redis.call('EXISTS', k) == 0 then return 0 end
${APPEND_ATTEMPT}
redis.call('HINCRBY', k, 'attempt', -1)
redis.call('HSET', k, 'state', 'queued', 'stateAt', now)
redis.call('ZADD', p .. ':state:queued', now, tid)
local node = redis.call('HGET', k, 'node')
redis.call('XADD', node and (p .. ':node:' .. node) or (p .. ':stream'), '*', 'id', tid)
return 1
`

/** ARGV prefix, now, limit: due delayed tasks into their stream. */
export const PROMOTE = `
local p, now = ARGV[1], ARGV[2]
local ids = redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, tid in ipairs(ids) do
  redis.call('ZREM', p .. ':delayed', tid)
  local k = p .. ':task:' .. tid
  if redis.call('HGET', k, 'state') == 'delayed' then
    local node = redis.call('HGET', k, 'node')
    redis.call('XADD', node and (p .. ':node:' .. node) or (p .. ':stream'), '*', 'id', tid)
    redis.call('HSET', k, 'state', 'queued', 'stateAt', now)
    redis.call('ZREM', p .. ':state:delayed', tid)
    redis.call('ZADD', p .. ':state:queued', now, tid)
  end
end
return #ids
`

/** ARGV prefix, id, now → 'ok', or the state that forbids it, or 'missing'. */
export const RETRY = `
local p, tid, now = ARGV[1], ARGV[2], ARGV[3]
local k = p .. ':task:' .. tid
local st = redis.call('HGET', k, 'state')
if not st then return 'missing' end
if st ~= 'dead' and st ~= 'cancelled' then return st end
redis.call('HSET', k, 'state', 'queued', 'stateAt', now, 'attempt', 0)
redis.call('HDEL', k, 'finished')
redis.call('PERSIST', k)
redis.call('ZREM', p .. ':state:' .. st, tid)
redis.call('ZADD', p .. ':state:queued', now, tid)
local key = redis.call('HGET', k, 'key')
if key then redis.call('SET', p .. ':key:' .. key, tid, 'NX') end
local node = redis.call('HGET', k, 'node')
redis.call('XADD', node and (p .. ':node:' .. node) or (p .. ':stream'), '*', 'id', tid)
return 'ok'
`

/** ARGV prefix, id, now, retention → 'ok', or the state that forbids it or makes it moot, or 'missing'. */
export const CANCEL = `
local p, tid, now, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local k = p .. ':task:' .. tid
local st = redis.call('HGET', k, 'state')
if not st then return 'missing' end
if st == 'running' or st == 'done' or st == 'cancelled' then return st end
redis.call('ZREM', p .. ':state:' .. st, tid)
redis.call('ZREM', p .. ':delayed', tid)
redis.call('HSET', k, 'state', 'cancelled', 'stateAt', now, 'finished', now)
redis.call('ZADD', p .. ':state:cancelled', now, tid)
redis.call('PEXPIRE', k, retention)
${RELEASE_KEY}
return 'ok'
`
