-- window_read: read a conversation's hot window and its meta atomically, sliding its TTL.
--
-- KEYS[1]  window list   entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     v, last, tok, full, n, first, tail (see window_append.lua)
-- ARGV[1]  TTL in seconds to renew on a hit
--
-- Returns {} when absent or partial (a partial window is deleted here, so the caller's rebuild from
-- Postgres can write), else {version, last seq, tokens, full, {entries…}}.

-- FIELDS and complete(meta): the window's completeness check, shared (see window_complete.lua).
--#include window_complete

local meta = redis.call('HMGET', KEYS[2], unpack(FIELDS))
if not complete(meta) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {}
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {meta[1], meta[2], meta[3], meta[4], redis.call('LRANGE', KEYS[1], 0, -1)}
