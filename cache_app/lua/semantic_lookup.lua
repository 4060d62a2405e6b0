-- semantic_lookup: read the candidate buckets of one semantic-cache scope in one call.
--
-- KEYS[1]  meta hash     dim (vector dimension of the scope)
-- KEYS[2]  bucket hash   field = table byte .. 16-bit signature (big-endian) -> concatenated members
-- KEYS[3]  vector hash   member (8 random hex digits) -> packed record (see cache_app/semantic_index.py)
-- ARGV[1]  member width (8)
-- ARGV[2…] bucket fields to probe
--
-- Returns {dim (0 when the scope is empty), concatenated members, concatenated records}; members and
-- records are fixed width, deduplicated, and only those whose record still exists.

local dim = redis.call('HGET', KEYS[1], 'dim')
if not dim then
  return {0, '', ''}
end
local width = tonumber(ARGV[1])
local fields = {}
for i = 2, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local lists = redis.call('HMGET', KEYS[2], unpack(fields))
local seen, members = {}, {}
for _, list in ipairs(lists) do
  if list then
    for at = 1, #list, width do
      local member = string.sub(list, at, at + width - 1)
      if not seen[member] then
        seen[member] = true
        members[#members + 1] = member
      end
    end
  end
end
local out_members, out_records = {}, {}
local chunk = 4000
for start = 1, #members, chunk do
  local slice = {}
  for i = start, math.min(start + chunk - 1, #members) do
    slice[#slice + 1] = members[i]
  end
  local records = redis.call('HMGET', KEYS[3], unpack(slice))
  for i, record in ipairs(records) do
    if record then
      out_members[#out_members + 1] = slice[i]
      out_records[#out_records + 1] = record
    end
  end
end
return {tonumber(dim), table.concat(out_members), table.concat(out_records)}
