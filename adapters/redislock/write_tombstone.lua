-- Record a release: KEYS[1] tombstone key, ARGV[1] TTL ms.
-- KEYS[2] the history stream; ARGV[2] the tag, ARGV[3] HISTORY_MAX (history.lua): a tombstone
-- written is appended as `release_seen` in this same step.
-- The release time is Redis's TIME, not the watcher's clock (one clock: see restore.lua), so a
-- replica with a skewed clock stamps the same instant as any other.
-- An existing tombstone with a later (or equal) time is kept as it is, TTL included;
-- an earlier, unreadable or non-string one is replaced. Returns 1 when it wrote.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local current = tonumber(redis.call('GET', KEYS[1]))
  if current ~= nil and current >= now then
    return 0
  end
end
redis.call('SET', KEYS[1], string.format('%.0f', now), 'PX', ARGV[1])
history_open(KEYS[2], ARGV[3], '', 'keyspace')
history_add(ARGV[2], 'release_seen', '', 'the lock key was deleted; restores from older snapshots are refused until RELEASE_SETTLE has passed')
return 1
