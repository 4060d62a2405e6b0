-- window_read: read a conversation's hot window and its meta atomically, sliding its TTL.
--
-- KEYS[1]  window list   entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     v, last, tok, full (see window_append.lua)
-- ARGV[1]  TTL in seconds to renew on a hit
--
-- Returns {} when absent, else {version, last seq, tokens, full, {entries…}}.

local meta = redis.call('HMGET', KEYS[2], 'v', 'last', 'tok', 'full')
if not meta[1] then
  return {}
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {meta[1], meta[2], meta[3], meta[4], redis.call('LRANGE', KEYS[1], 0, -1)}
