-- semantic_delete: remove entries from one semantic-cache scope.
--
-- KEYS[1…7]  meta, bucket, vector, body, lru, expiry and hits keys (see semantic_store.lua)
-- ARGV[1]    tables
-- ARGV[2…]   members (8 hex digits)
--
-- Returns the number of entries that existed and were removed.

local tables = tonumber(ARGV[1])
local width = 8

--#include semantic_remove

local removed = 0
for i = 2, #ARGV do
  removed = removed + remove(ARGV[i])
end
return removed
