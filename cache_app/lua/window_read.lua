-- window_read: read a conversation's hot window and its meta atomically, sliding its TTL.
--
-- KEYS[1]  window list   entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     v, last, tok, full, n, first, tail (see window_append.lua)
-- ARGV[1]  TTL in seconds to renew on a hit
--
-- Returns {} when absent or partial (a partial window is deleted here, so the caller's rebuild from
-- Postgres can write), else {version, last seq, tokens, full, {entries…}}.

-- Same in window_read/join/append/rebuild.lua: every meta field is there and the list agrees with it
-- (length n, first entry's seq = first, last entry's seq = tail). Redis may drop either key, or a
-- field, at any moment; anything else is a partial window.
local FIELDS = {'v', 'last', 'tok', 'full', 'n', 'first', 'tail'}
local function seq_of(entry)
  local colon = entry and string.find(entry, ':', 1, true)
  return colon and string.sub(entry, 1, colon - 1)
end
local function complete(meta)
  for i = 1, #FIELDS do
    if not meta[i] then return false end
  end
  local n = tonumber(meta[5])
  if redis.call('LLEN', KEYS[1]) ~= n then return false end
  if n == 0 then return true end
  return seq_of(redis.call('LINDEX', KEYS[1], 0)) == meta[6] and seq_of(redis.call('LINDEX', KEYS[1], -1)) == meta[7]
end

local meta = redis.call('HMGET', KEYS[2], unpack(FIELDS))
if not complete(meta) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {}
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {meta[1], meta[2], meta[3], meta[4], redis.call('LRANGE', KEYS[1], 0, -1)}
