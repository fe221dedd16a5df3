-- Record a release: KEYS[1] tombstone key, ARGV[1] release unix ms, ARGV[2] TTL ms.
-- An existing tombstone with a later (or equal) time is kept as it is, TTL included;
-- an earlier, unreadable or non-string one is replaced. Returns 1 when it wrote.
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local current = tonumber(redis.call('GET', KEYS[1]))
  if current ~= nil and current >= tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
