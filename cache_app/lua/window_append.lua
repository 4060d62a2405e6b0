-- window_append: extend a conversation's hot window, only if it is at the version this append extends.
--
-- KEYS[1]  window list   (cs:v1:{t<tenant>:<conv>}:win)  entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     (cs:v1:{t<tenant>:<conv>}:meta) v=version, last=last seq, tok=context tokens,
--                        full=1 when the list holds the whole context from its first item
-- ARGV[1]  version before this mutation (what the window must be at)
-- ARGV[2]  version after this mutation
-- ARGV[3]  last seq after this mutation
-- ARGV[4]  tokens added by this mutation
-- ARGV[5]  window size (items kept)
-- ARGV[6]  TTL in seconds for both keys
-- ARGV[7]  "1" when this mutation created a conversation with no inherited items (the window starts complete)
-- ARGV[8…] new entries, oldest first
--
-- Returns 1 extended, 2 created, 0 dropped (the window was at another version), -1 nothing there (left absent).

local current = redis.call('HGET', KEYS[2], 'v')
local size = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local full

if not current then
  if ARGV[7] ~= '1' then
    return -1
  end
  redis.call('DEL', KEYS[1])
  full = 1
elseif current ~= ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 0
else
  full = tonumber(redis.call('HGET', KEYS[2], 'full') or '0')
end

for i = 8, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
if redis.call('LLEN', KEYS[1]) > size then
  redis.call('LTRIM', KEYS[1], -size, -1)
  full = 0
end

local tokens = tonumber(ARGV[4])
if current then
  tokens = tokens + tonumber(redis.call('HGET', KEYS[2], 'tok') or '0')
end
redis.call('HSET', KEYS[2], 'v', ARGV[2], 'last', ARGV[3], 'tok', tokens, 'full', full)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if current then
  return 1
end
return 2
