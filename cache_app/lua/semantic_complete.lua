-- semantic_complete: included (--#include semantic_complete) by semantic_lookup.lua and semantic_store.lua;
-- cache_app.redis_client.lua_source splices it in before the script is loaded.
--
-- scope_complete(dim) is true when the vector, body, lru and expiry structures (KEYS[3..6]) hold the same
-- number of entries and, if any, the meta (dim not false) and the bucket hash (KEYS[2]) exist; an empty
-- scope is its meta alone (no bucket, no hits hash). Redis may drop any key, or a field, at any moment.
local function scope_complete(dim)
  local n = redis.call('HLEN', KEYS[3])
  if redis.call('HLEN', KEYS[4]) ~= n or redis.call('ZCARD', KEYS[5]) ~= n or redis.call('ZCARD', KEYS[6]) ~= n then
    return false
  end
  if n == 0 then
    return redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[7]) == 0
  end
  return dim ~= false and redis.call('EXISTS', KEYS[2]) == 1
end

