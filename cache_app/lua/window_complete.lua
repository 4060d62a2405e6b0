-- window_complete: included (--#include window_complete) by window_read/join/append/rebuild.lua;
-- cache_app.redis_client.lua_source splices it in before the script is loaded, so one check serves all four.
--
-- complete(meta) is true when every meta field is there (meta = HMGET KEYS[2] FIELDS) and the list KEYS[1]
-- agrees with it: length n, first entry's seq = first, last entry's seq = tail. Redis may drop either key,
-- or a field, at any moment; anything else is a partial window.
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
