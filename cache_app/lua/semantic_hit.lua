-- semantic_hit: record a hit on one entry (bump its LRU position and hit count) if it still exists.
--
-- KEYS[1]  body hash   member -> JSON header line "\n" response JSON
-- KEYS[2]  lru zset    member -> last access
-- KEYS[3]  hits hash   member -> hit count
-- ARGV[1]  member      ARGV[2] now (latest hit)      ARGV[3] hits to add
--
-- Queued by lookups (coalesced per entry) and sent with a later semantic-cache call (semantic_admin.py).
-- Returns 0 when the entry is gone or partial (its body or its LRU position missing: nothing is
-- written, the next lookup or store of the scope deletes it), else its hit count.

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
local hits = redis.call('HINCRBY', KEYS[3], ARGV[1], ARGV[3])
-- A hits hash created here lives as long as the scope (a store sets the same TTL on every key).
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl, 'NX')
end
return hits
