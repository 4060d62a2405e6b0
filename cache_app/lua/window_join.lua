-- window_join: resolve's read — the window's items up to a seq, already joined for a JSON array, with their tokens.
--
-- KEYS[1]  window list   entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     v, last, tok, full, n, first, tail (see window_append.lua)
-- ARGV[1]  TTL in seconds to renew on a hit
-- ARGV[2]  highest seq wanted
--
-- Returns {} when absent or partial (a partial window is deleted here), else {version, last seq, full,
-- token sum of the kept items, kept count, "<json>,<json>,…" of the kept items}. Joining here keeps the
-- caller from decoding every entry.

-- FIELDS and complete(meta): the window's completeness check, shared (see window_complete.lua).
--#include window_complete

local meta = redis.call('HMGET', KEYS[2], unpack(FIELDS))
if not complete(meta) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {}
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local upto = tonumber(ARGV[2])
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local parts, tokens, count = {}, 0, 0
for i = 1, #entries do
  local entry = entries[i]
  local a = string.find(entry, ':', 1, true)
  local b = string.find(entry, ':', a + 1, true)
  if tonumber(string.sub(entry, 1, a - 1)) <= upto then
    tokens = tokens + tonumber(string.sub(entry, a + 1, b - 1))
    count = count + 1
    parts[count] = string.sub(entry, b + 1)
  end
end
return {meta[1], meta[2], meta[4], tokens, count, table.concat(parts, ',')}
