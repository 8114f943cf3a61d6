"""The Lua scripts that change shared state on the Redis server, each atomic there.

Times come from the server (`TIME`), so holds and cooldowns expire the same way for
every machine whatever their clocks say. Every script touches keys of one hash tag
(one tenant, or one deployment), so it runs unchanged on Redis Cluster.
"""

from __future__ import annotations

__all__ = ["ALLOW", "FAILURE", "RESERVE", "SETTLE", "USED"]

# A counter is two keys: `spent` (an integer, settled micro-dollars) and `holds` (a hash
# token -> "amount:expires"). A hold past its expiry no longer counts and is deleted by
# the next reservation on that counter.
_SUM = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function used(spent_key, holds_key, t, prune)
  local total = tonumber(redis.call('GET', spent_key) or '0')
  local h = redis.call('HGETALL', holds_key)
  for j = 1, #h, 2 do
    local amount, expires = string.match(h[j + 1], '^(%d+):([%d%.]+)$')
    if tonumber(expires) > t then
      total = total + tonumber(amount)
    elseif prune then
      redis.call('HDEL', holds_key, h[j])
    end
  end
  return total
end
"""

USED = (
    _SUM
    + """
-- KEYS: spent1, holds1, spent2, holds2, ...   -> used micro-dollars per counter
local t = now()
local out = {}
for i = 1, #KEYS / 2 do
  out[i] = used(KEYS[2 * i - 1], KEYS[2 * i], t, false)
end
return out
"""
)

RESERVE = (
    _SUM
    + """
-- KEYS: spent1, holds1, ...; ARGV: token, amount, hold_seconds, ttl, limit1, limit2, ...
-- Holds `amount` on every counter, or on none (returns nil) when one would go over its
-- limit. Returns what each counter had used before this hold.
local t = now()
local amount = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  out[i] = used(KEYS[2 * i - 1], KEYS[2 * i], t, true)
  if out[i] + amount > tonumber(ARGV[4 + i]) then
    return nil
  end
end
local value = ARGV[2] .. ':' .. string.format('%.3f', t + tonumber(ARGV[3]))
for i = 1, #KEYS / 2 do
  redis.call('HSET', KEYS[2 * i], ARGV[1], value)
  redis.call('EXPIRE', KEYS[2 * i], ARGV[4])
end
return out
"""
)

SETTLE = """
-- KEYS: settled-marker, spent1, holds1, ...; ARGV: token, cost, counter_ttl, marker_ttl
-- Once per token (the marker): release its holds and add its actual cost. Returns 1,
-- or 0 when the token was settled before (a replay after a lost reply).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) then
  return 0
end
for i = 2, #KEYS, 2 do
  redis.call('HDEL', KEYS[i + 1], ARGV[1])
  if tonumber(ARGV[2]) > 0 then
    redis.call('INCRBY', KEYS[i], ARGV[2])
    redis.call('EXPIRE', KEYS[i], ARGV[3])
  end
end
return 1
"""

# A breaker is one hash: f = consecutive failures, o = opened at (server time),
# p = "1" while the one probe of a half-open breaker is out.
ALLOW = """
-- KEYS: breaker; ARGV: cooldown_seconds -> 2: no breaker, 1: allowed (a probe), 0: not
local opened = redis.call('HGET', KEYS[1], 'o')
if not opened then
  return redis.call('EXISTS', KEYS[1]) == 1 and 1 or 2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if redis.call('HGET', KEYS[1], 'p') == '1' or now - tonumber(opened) < tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'p', '1')
return 1
"""

FAILURE = """
-- KEYS: breaker; ARGV: threshold, ttl -> consecutive failures
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
if redis.call('HGET', KEYS[1], 'p') == '1' or f >= tonumber(ARGV[1]) then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'o', t[1] .. '.' .. string.format('%06d', tonumber(t[2])), 'p', '0')
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return f
"""
