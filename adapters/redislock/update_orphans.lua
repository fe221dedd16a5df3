-- Update the orphan sightings hash in one step.
-- KEYS[1] the hash (field TAG, value "{first-seen ms}|{lock value}")
-- ARGV[1] n, the number of sightings to record; then n pairs (tag, "{ms}|{value}") to record,
-- then pairs (tag, "{ms}|{value}") to forget.
-- Record: written unless the stored sighting has the same lock value (the earliest first-seen
-- wins, so replicas seeing the same orphan agree); another value starts over.
-- Forget: deleted only while the stored sighting is exactly the one that was read.
local n = tonumber(ARGV[1])
local function value_of(stamped)
  local bar = string.find(stamped, '|', 1, true)
  if bar == nil then
    return nil
  end
  return string.sub(stamped, bar + 1)
end
local i = 2
for _ = 1, n do
  local tag, stamped = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', KEYS[1], tag)
  if not current or value_of(current) ~= value_of(stamped) then
    redis.call('HSET', KEYS[1], tag, stamped)
  end
  i = i + 2
end
while i < #ARGV do
  local tag, stamped = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', KEYS[1], tag) == stamped then
    redis.call('HDEL', KEYS[1], tag)
  end
  i = i + 2
end
return 0
