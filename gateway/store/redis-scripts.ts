/**
 * Lua scripts of the Redis session store. Each touches one session hash only, whose key carries
 * the session id as its hash tag, so each runs atomically on one Cluster slot.
 *
 * Hash fields: `_c` created, `_s` last seen, `_a` absolute expiry, `_x` latest persistent cookie
 * expiry, `_u` user, `_r` id that replaced this one (regenerate), `_g` until when it still answers
 * and `_d` from when it is retired (the regenerate's answer going out), `_o` when the app last replaced its own
 * session cookie, `_v` a version counted up by every answer's write; `c:<domain>;<path>;<name>` one
 * cookie each, as JSON [name, value, domain, path, flags, expires, created, order]
 * (expires 0 = session-only; order: its line in the answer that created it).
 *
 * Scripts that change a session publish its key on the invalidation channel (given in ARGV with the
 * command: PUBLISH, or SPUBLISH to a shard channel in the session's slot under Cluster; '' = none)
 * before they return: every gateway's session cache drops it, and the message leaves Redis ahead of
 * the writer's reply. They return how many subscribers it reached (`heard`): 0 under Cluster means
 * the script ran where nobody listens (a slot being migrated), and the writer publishes again.
 */

/**
 * The announcement every changing script ends with: `announce(cmd, channel)` returns `heard`, or
 * -1 when Redis refused it (SPUBLISH before Redis 7.0): the change stands, and no gateway caches
 * there (its SSUBSCRIBE is refused too).
 */
const ANNOUNCE = `
local function announce (cmd, channel)
  if channel == '' then return 0 end
  local n = redis.pcall(cmd, channel, KEYS[1])
  if type(n) ~= 'number' then return -1 end
  return n
end
`

/**
 * KEYS[1] session. ARGV now, idleMs, touch(0|1), touchEveryMs. Returns the hash (with the last-seen
 * time just written), or nil when it ended. Last-seen is written only when older than touchEveryMs
 * (most reads write nothing). Ending a session here needs no message: caches check both deadlines.
 */
export const LOAD = `
local key = KEYS[1]
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HGETALL', key)
if #h == 0 then return false end
local m = {}
for i = 1, #h, 2 do if string.sub(h[i], 1, 1) == '_' then m[h[i]] = h[i + 1] end end
local a, s, x = tonumber(m._a or '0'), tonumber(m._s or '0'), tonumber(m._x or '0')
if now >= a then redis.call('DEL', key) return false end
if m._r then
  if now >= tonumber(m._g or '0') then return false end
  return h
end
if now - s >= idle then
  -- Idle: session-only cookies end; the session lives on only for persistent ones.
  local live = 0
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 'c:' then
      local exp = cjson.decode(h[i + 1])[6]
      if exp == 0 or exp <= now then redis.call('HDEL', key, h[i]) else live = live + 1 end
    end
  end
  if live == 0 then redis.call('DEL', key) return false end
  h = redis.call('HGETALL', key)
end
if ARGV[3] == '1' and now - s >= tonumber(ARGV[4]) then
  redis.call('HSET', key, '_s', now)
  redis.call('PEXPIRE', key, math.min(a, math.max(now + idle, x)) - now)
  for i = 1, #h, 2 do if h[i] == '_s' then h[i + 1] = tostring(now) end end
end
return h
`

/**
 * KEYS[1] session. ARGV now, idleMs, absoluteMs, create(0|1), user ('' = unchanged), maxCookies,
 * channel, rotatedAt ('' = unchanged), publish command, then per change: op ('set'|'del'), field,
 * json, expires. Returns {'ok', absoluteExpiry, maxPersistent, previousUser, refused,
 * maxPersistentBefore, heard} | {'moved', id} | {'gone'}. maxPersistent is the latest expiry among
 * the cookies left after the changes.
 */
export const APPLY = ANNOUNCE + `
local key = KEYS[1]
local now, idle, absMs, maxCookies = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[6])
local META = {'_c', '_a', '_x', '_r', '_u', '_s', '_g', '_o', '_v', '_d'}
local meta = redis.call('HMGET', key, unpack(META))
if not meta[1] then
  if ARGV[4] ~= '1' then return {'gone'} end
  redis.call('HSET', key, '_c', now, '_a', now + absMs, '_x', '0')
  meta = redis.call('HMGET', key, unpack(META))
end
if meta[4] then return {'moved', meta[4]} end
local a, x = tonumber(meta[2]), tonumber(meta[3])
local xBefore = x
if now >= a then redis.call('DEL', key) return {'gone'} end
-- Cookies are the fields that are not bookkeeping: the limit counts exactly those.
local metaCount = 0
for i = 1, #META do if meta[i] then metaCount = metaCount + 1 end end
local refused = 0
local shrunk = false
for i = 10, #ARGV, 4 do
  local field = ARGV[i + 1]
  if ARGV[i] == 'del' then
    if redis.call('HDEL', key, field) == 1 then shrunk = true end
  elseif redis.call('HEXISTS', key, field) == 0 and redis.call('HLEN', key) - metaCount >= maxCookies then
    refused = refused + 1
  else
    local json, exp = ARGV[i + 2], tonumber(ARGV[i + 3])
    local old = redis.call('HGET', key, field)
    if old or exp > a then
      -- A replaced cookie keeps its creation time and place (RFC 6265 §5.3 step 11.3); cap at absolute expiry.
      local c = cjson.decode(json)
      if old then
        local o = cjson.decode(old)
        c[7] = o[7]
        c[8] = o[8] or 0
        shrunk = true
      end
      if exp > a then exp = a c[6] = a end
      json = cjson.encode(c)
    end
    redis.call('HSET', key, field, json)
    if exp > x then x = exp end
  end
end
if shrunk then
  -- A cookie deleted or replaced may have been the one that kept the session persistent.
  x = 0
  local h = redis.call('HGETALL', key)
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 'c:' then
      local exp = cjson.decode(h[i + 1])[6]
      if exp > now and exp > x then x = exp end
    end
  end
end
local previous = meta[5] or ''
if ARGV[5] ~= '' then redis.call('HSET', key, '_u', ARGV[5]) end
if ARGV[8] ~= '' then redis.call('HSET', key, '_o', ARGV[8]) end
redis.call('HSET', key, '_s', now, '_x', x)
-- A regenerate copying this session meanwhile sees the version move and copies again.
redis.call('HINCRBY', key, '_v', 1)
redis.call('PEXPIRE', key, math.max(1, math.min(a, math.max(now + idle, x)) - now))
local heard = announce(ARGV[9], ARGV[7])
return {'ok', tostring(a), tostring(x), previous, refused, tostring(xBefore), heard}
`

/**
 * KEYS[1] old session. ARGV newId, now, graceMs, channel, version, publish command. Marks it moved
 * to newId, whose copy was written first, if it is still at the version that was copied. Returns
 * {'ok', heard}, 'changed' (an answer wrote to it meanwhile: copy again) or nil (gone, ended or
 * already moved).
 */
export const MARK_MOVED = ANNOUNCE + `
local m = redis.call('HMGET', KEYS[1], '_a', '_r', '_v')
if not m[1] or m[2] or tonumber(m[1]) <= tonumber(ARGV[2]) then return false end
if (m[3] or '0') ~= ARGV[5] then return 'changed' end
redis.call('HSET', KEYS[1], '_r', ARGV[1], '_g', tonumber(ARGV[2]) + tonumber(ARGV[3]))
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {'ok', announce(ARGV[6], ARGV[4])}
`

/**
 * KEYS[1] moved session. ARGV at, channel, publish command. The regenerate is about to answer: a
 * request arriving with the old id from `at` on is not in flight, and gets no session. Returns
 * heard, or -1 when it was not moved.
 */
export const RETIRE = ANNOUNCE + `
if redis.call('HEXISTS', KEYS[1], '_r') == 0 then return -1 end
redis.call('HSET', KEYS[1], '_d', ARGV[1])
return announce(ARGV[3], ARGV[2])
`

/** KEYS[1] new session. ARGV now, idleMs, then field/value pairs. Writes a regenerated copy. */
export const WRITE_COPY = `
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
local a, x = now, 0
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == '_a' then a = tonumber(ARGV[i + 1]) end
  if ARGV[i] == '_x' then x = tonumber(ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], '_s', now)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.min(a, math.max(now + idle, x)) - now))
return 1
`

/**
 * KEYS[1] session. ARGV channel, publish command. Deletes it; returns {user, movedTo, deleted,
 * heard} ('' when none; heard -1 when there was nothing to delete).
 */
export const DESTROY = ANNOUNCE + `
local m = redis.call('HMGET', KEYS[1], '_u', '_r')
local n = redis.call('DEL', KEYS[1])
local heard = -1
if n > 0 then heard = announce(ARGV[2], ARGV[1]) end
return {m[1] or '', m[2] or '', n, heard}
`
