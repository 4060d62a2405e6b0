-- semantic_store: add one entry to a semantic-cache scope, sweep expired entries, evict over the cap.
--
-- KEYS[1]  meta hash     dim
-- KEYS[2]  bucket hash   field = table byte .. 16-bit signature (big-endian) -> concatenated members
-- KEYS[3]  vector hash   member -> record: expires f8 | text digest u8 | signatures u2[TABLES] | f2[dim]
-- KEYS[4]  body hash     member -> JSON header line "\n" response JSON (the response stored once)
-- KEYS[5]  lru zset      member -> last access (store or hit), the eviction order
-- KEYS[6]  expiry zset   member -> expires_at (epoch seconds)
-- KEYS[7]  hits hash     member -> hit count
-- ARGV[1]  dim   ARGV[2] now   ARGV[3] key TTL in ms (entry TTL)   ARGV[4] cap   ARGV[5] tables
-- ARGV[6]  record          ARGV[7] body          ARGV[8] expires_at
-- ARGV[9]  member: 8 random hex digits chosen by the caller
--
-- Returns {-1, scope dim} on a dimension mismatch, {-2} when the member is taken (nothing written in
-- either case), else {member, evicted, expired}. A partial scope (see scope_complete) is deleted first
-- and the entry starts a new one: no store extends a partial scope.

--#include semantic_complete

local dim, now, ttl_ms, cap, tables = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local width = 8

local current = redis.call('HGET', KEYS[1], 'dim')
if not scope_complete(current) then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
  current = false
end
if current and tonumber(current) ~= dim then
  return {-1, tonumber(current)}
end

--#include semantic_remove

local member = ARGV[9]
if redis.call('HEXISTS', KEYS[3], member) == 1 then
  return {-2}
end
if not current then
  redis.call('HSET', KEYS[1], 'dim', dim)
end
local record = ARGV[6]
redis.call('HSET', KEYS[3], member, record)
redis.call('HSET', KEYS[4], member, ARGV[7])
redis.call('ZADD', KEYS[5], now, member)
redis.call('ZADD', KEYS[6], ARGV[8], member)
for i = 0, tables - 1 do
  local field = string.char(i) .. string.sub(record, 18 + 2 * i, 18 + 2 * i) .. string.sub(record, 17 + 2 * i, 17 + 2 * i)
  local list = redis.call('HGET', KEYS[2], field)
  redis.call('HSET', KEYS[2], field, (list or '') .. member)
end

local expired = 0
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, 32)) do
  expired = expired + remove(old)
end

local evicted = 0
local rounds = 0
while redis.call('ZCARD', KEYS[5]) > cap and rounds < 256 do
  local oldest = redis.call('ZPOPMIN', KEYS[5])
  evicted = evicted + remove(oldest[1])
  rounds = rounds + 1
end

-- The scope lives as long as its longest-lived entry.
for i = 1, 7 do
  redis.call('PEXPIRE', KEYS[i], ttl_ms, 'NX')
  redis.call('PEXPIRE', KEYS[i], ttl_ms, 'GT')
end
return {member, evicted, expired}
