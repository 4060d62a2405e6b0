-- window_rebuild: replace a conversation's hot window with one read from Postgres, unless a complete one is as new.
--
-- KEYS[1]  window list   entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     v, last, tok, full, n, first, tail (see window_append.lua)
-- ARGV[1]  version the rebuild was read at
-- ARGV[2]  last seq at that version
-- ARGV[3]  context tokens at that version
-- ARGV[4]  "1" when the entries are the whole context
-- ARGV[5]  TTL in seconds
-- ARGV[6…] entries, oldest first (already cut to the window size)
--
-- Returns 1 written, 0 skipped because a complete window at the same or a newer version is there. A
-- partial window counts as absent: it is replaced whatever version its meta claims.

-- FIELDS and complete(meta): the window's completeness check, shared (see window_complete.lua).
--#include window_complete

local meta = redis.call('HMGET', KEYS[2], unpack(FIELDS))
if complete(meta) and tonumber(meta[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 6, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
local n = #ARGV - 5
local first, tail = '0', '0'
if n > 0 then
  first, tail = seq_of(ARGV[6]), seq_of(ARGV[#ARGV])
end
redis.call('HSET', KEYS[2], 'v', ARGV[1], 'last', ARGV[2], 'tok', ARGV[3], 'full', ARGV[4], 'n', n, 'first', first, 'tail', tail)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
