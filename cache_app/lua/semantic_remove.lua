-- semantic_remove: included (--#include semantic_remove) by semantic_store.lua and semantic_delete.lua, after
-- they set the locals ``tables`` (signature tables per record) and ``width`` (member width, 8).
--
-- remove(member) drops a member from its buckets (one per table, named from the signatures in its record)
-- and from every per-entry structure; returns 1 when its record existed, else 0.
local function remove(member)
  local record = redis.call('HGET', KEYS[3], member)
  if record then
    for i = 0, tables - 1 do
      local field = string.char(i) .. string.sub(record, 18 + 2 * i, 18 + 2 * i) .. string.sub(record, 17 + 2 * i, 17 + 2 * i)
      local list = redis.call('HGET', KEYS[2], field)
      if list then
        local pos = 1
        while true do
          local at = string.find(list, member, pos, true)
          if not at then break end
          if (at - 1) % width == 0 then
            list = string.sub(list, 1, at - 1) .. string.sub(list, at + width)
            break
          end
          pos = at + 1
        end
        if #list == 0 then redis.call('HDEL', KEYS[2], field) else redis.call('HSET', KEYS[2], field, list) end
      end
    end
  end
  redis.call('HDEL', KEYS[3], member)
  redis.call('HDEL', KEYS[4], member)
  redis.call('HDEL', KEYS[7], member)
  redis.call('ZREM', KEYS[5], member)
  redis.call('ZREM', KEYS[6], member)
  if record then return 1 end
  return 0
end

