-- window_rebuild: replace a conversation's hot window with one read from Postgres, only if it is newer.
--
-- KEYS[1]  window list   entries "<seq>:<tokens>:<canonical json>", oldest first
-- KEYS[2]  meta hash     v, last, tok, full (see window_append.lua)
-- ARGV[1]  version the rebuild was read at
-- ARGV[2]  last seq at that version
-- ARGV[3]  context tokens at that version
-- ARGV[4]  "1" when the entries are the whole context
-- ARGV[5]  TTL in seconds
-- ARGV[6…] entries, oldest first (already cut to the window size)
--
-- Returns 1 written, 0 skipped because the window there is at the same or a newer version.

local current = redis.call('HGET', KEYS[2], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('DEL', KEYS[1])
for i = 6, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
redis.call('HSET', KEYS[2], 'v', ARGV[1], 'last', ARGV[2], 'tok', ARGV[3], 'full', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
