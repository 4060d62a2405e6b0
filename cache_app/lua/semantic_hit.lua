-- semantic_hit: record a hit on one entry (bump its LRU position and hit count) if it still exists.
--
-- KEYS[1]  body hash   member -> JSON header line "\n" response JSON
-- KEYS[2]  lru zset    member -> last access
-- KEYS[3]  hits hash   member -> hit count
-- ARGV[1]  member      ARGV[2] now (latest hit)      ARGV[3] hits to add
--
-- Queued by lookups (coalesced per entry) and sent with a later semantic-cache call (semantic_admin.py).
-- Returns 0 when the entry is gone (nothing is written), else its hit count.

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
return redis.call('HINCRBY', KEYS[3], ARGV[1], ARGV[3])
