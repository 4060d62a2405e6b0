-- auth_count: read an API key's cached entry and, only when there is one, count the request.
--
-- KEYS[1]  the key's entry (JSON, see cache_app/api_keys.py); present only for a key Postgres found valid
-- KEYS[2]  the key's request counter for this minute (same hash tag, so the same cluster slot)
-- ARGV[1]  the counter's TTL in seconds
--
-- Returns false (nil) when there is no entry: an unknown, revoked or expired key writes nothing.
-- Otherwise {entry, count after this request}.

local entry = redis.call('GET', KEYS[1])
if not entry then
  return false
end
local count = redis.call('INCR', KEYS[2])
if count == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return {entry, count}
