-- window_append: extend a conversation's hot window, only if it is complete and at the version this append extends.
--
-- KEYS[1]  window list   (cs:v1:{t<tenant>:<conv>}:win)  entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     (cs:v1:{t<tenant>:<conv>}:meta) v=version, last=last seq of the context,
--                        tok=context tokens, full=1 when the list holds the whole context from its first item,
--                        n=entries in the list, first=seq of the list's first entry, tail=seq of its last
--                        entry (first and tail are 0 when n is 0). Every field is always written together.
-- ARGV[1]  version before this mutation (what the window must be at)
-- ARGV[2]  version after this mutation
-- ARGV[3]  last seq after this mutation
-- ARGV[4]  tokens added by this mutation
-- ARGV[5]  window size (items kept)
-- ARGV[6]  TTL in seconds for both keys
-- ARGV[7]  "1" when the entries are the whole context (a new conversation, or a fork seeded with what it
--          inherits): an absent or partial window is (re)created from them
-- ARGV[8…] new entries, oldest first
--
-- Returns 1 extended, 2 created, 0 dropped (partial, or at another version), -1 nothing there (left
-- absent; a list without its meta is deleted). A partial window is never extended.

-- FIELDS and complete(meta): the window's completeness check, shared (see window_complete.lua).
--#include window_complete

local size = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local meta = redis.call('HMGET', KEYS[2], unpack(FIELDS))
local extending = complete(meta)
local full, tokens

if extending and meta[1] == ARGV[1] then
  full, tokens = tonumber(meta[4]), tonumber(meta[3]) + tonumber(ARGV[4])
elseif extending then
  redis.call('DEL', KEYS[1], KEYS[2])  -- complete, but at another version
  return 0
elseif ARGV[7] == '1' then
  redis.call('DEL', KEYS[1], KEYS[2])  -- absent or partial: these entries are the whole context
  full, tokens = 1, tonumber(ARGV[4])
else
  local present = redis.call('EXISTS', KEYS[2]) == 1
  redis.call('DEL', KEYS[1], KEYS[2])
  if present then return 0 end
  return -1
end

for i = 8, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
local n = redis.call('LLEN', KEYS[1])
if n > size then
  redis.call('LTRIM', KEYS[1], -size, -1)
  n = size
  full = 0
end
local first, tail = '0', '0'
if n > 0 then
  first, tail = seq_of(redis.call('LINDEX', KEYS[1], 0)), seq_of(redis.call('LINDEX', KEYS[1], -1))
end
redis.call('HSET', KEYS[2], 'v', ARGV[2], 'last', ARGV[3], 'tok', tokens, 'full', full, 'n', n, 'first', first, 'tail', tail)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if extending then
  return 1
end
return 2
