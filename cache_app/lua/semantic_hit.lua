-- semantic_hit: fetch a hit's stored body, bump its LRU position and hit count.
--
-- KEYS[1]  body hash   member -> JSON header line "\n" response JSON
-- KEYS[2]  lru zset    member -> last access
-- KEYS[3]  hits hash   member -> hit count
-- ARGV[1]  member      ARGV[2] now
--
-- Returns false when the entry is gone, else {body, hits}.

local body = redis.call('HGET', KEYS[1], ARGV[1])
if not body then
  return false
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
return {body, redis.call('HINCRBY', KEYS[3], ARGV[1], 1)}
