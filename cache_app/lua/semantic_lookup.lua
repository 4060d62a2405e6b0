-- semantic_lookup: read the candidate buckets of one semantic-cache scope in one call.
--
-- KEYS[1…7]  meta, bucket, vector, body, lru, expiry and hits keys (see semantic_store.lua):
-- KEYS[1]  meta hash     dim (vector dimension of the scope)
-- KEYS[2]  bucket hash   field = table byte .. 16-bit signature (big-endian) -> concatenated members
-- KEYS[3]  vector hash   member (8 hex digits) -> packed record (see cache_app/semantic_index.py)
-- KEYS[4]  body hash     member -> JSON header line "\n" response JSON
-- ARGV[1]  member width (8)        ARGV[2] min votes (1 = keep every candidate)
-- ARGV[3]  vote budget: up to this many candidates are all kept, whatever their votes
-- ARGV[4]  bodies: how many of the most-voted candidates also return their body
-- ARGV[5]  inline limit: a body longer than this many bytes is not returned (the caller fetches it)
-- ARGV[6]  bucket fields to probe, 3 bytes each, concatenated
--
-- A candidate's votes are the number of probed buckets (one per table at most) that list it. Returns
-- {dim (0 when the scope is empty or partial), concatenated members, concatenated records, scanned, i1,
-- body1, i2, body2, …} with members and records fixed width, deduplicated, only those whose record still
-- exists; scanned = bucket list entries read (the work done, bounded by the probed buckets' sizes);
-- then (0-based candidate index, body) pairs for the most-voted candidates whose body is short enough.
-- A partial scope (see scope_complete) is deleted here and answers as empty: a miss.

--#include semantic_complete

local dim = redis.call('HGET', KEYS[1], 'dim')
if not scope_complete(dim) then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
  return {0, '', '', 0}
end
if not dim then
  return {0, '', '', 0}
end
local width, min_votes, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local with_bodies, inline_limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local probes = ARGV[6]
local fields = {}
for at = 1, #probes, 3 do
  fields[#fields + 1] = string.sub(probes, at, at + 2)
end
local lists = redis.call('HMGET', KEYS[2], unpack(fields))
local votes, members, scanned = {}, {}, 0
for _, list in ipairs(lists) do
  if list then
    scanned = scanned + #list / width
    for at = 1, #list, width do
      local member = string.sub(list, at, at + width - 1)
      local seen = votes[member]
      if seen then
        votes[member] = seen + 1
      else
        votes[member] = 1
        members[#members + 1] = member
      end
    end
  end
end
if #members > budget and min_votes > 1 then
  local kept = {}
  for _, member in ipairs(members) do
    if votes[member] >= min_votes then
      kept[#kept + 1] = member
    end
  end
  members = kept
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
-- Bodies of the most-voted candidates (ties: first found, i.e. the most likely bucket), so that a hit
-- usually needs no second round trip.
local out = {tonumber(dim), table.concat(out_members), table.concat(out_records), scanned}
if with_bodies > 0 and #out_members > 0 then
  local rank = {}
  for i = 1, #out_members do
    rank[i] = i
  end
  if #out_members > with_bodies then
    table.sort(rank, function(a, b)
      local va, vb = votes[out_members[a]], votes[out_members[b]]
      if va ~= vb then return va > vb end
      return a < b
    end)
  end
  for n = 1, math.min(with_bodies, #out_members) do
    local member = out_members[rank[n]]
    if redis.call('HSTRLEN', KEYS[4], member) <= inline_limit then
      local body = redis.call('HGET', KEYS[4], member)
      if body then
        out[#out + 1] = rank[n] - 1
        out[#out + 1] = body
      end
    end
  end
end
return out
