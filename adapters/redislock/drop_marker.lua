-- Drop a tag's restore marker that a look settled (verified, or moot), only while it is still
-- the marker that look read: a marker rewritten meanwhile by a newer restore stays.
-- KEYS[1] the marker hash (RestoredKey)   KEYS[2] its previous generation (RestoredPreviousKey)
-- KEYS[3] the tag's marker key of earlier versions (reconciler:restored:{TAG}, a string)
-- ARGV[1] the tag   ARGV[2] the marker read, "{ms}|{value}"   ARGV[3] its ms
-- A tag can have a marker in more than one place, and readers take the one a single marker key
-- would have held (marker.go, pickMarker): the current generation's over the previous one's
-- (every field of the previous generation was written before the current one was born), and
-- between the hash and an earlier version's key (a rolling deploy) the later. The marker read is
-- dropped where it still is, and with it the ones it superseded, as a newer restore used to
-- overwrite the single key: the previous generation's when it was the current one's, and the
-- other version's older one. A newer marker stays, and so does anything unreadable (it ages
-- out with its hash or key).
-- Returns how many it dropped.
local at = tonumber(ARGV[3])
local function older(v)
  local bar = string.find(v, '|', 1, true)
  local ms = bar and tonumber(string.sub(v, 1, bar - 1))
  return ms ~= nil and ms > 0 and ms < at
end
-- pcall: a key of another type where a hash should be holds no marker.
local function field(key)
  local v = redis.pcall('HGET', key, ARGV[1])
  if type(v) == 'string' then
    return v
  end
  return nil
end
local cur, prev = field(KEYS[1]), field(KEYS[2])
local legacy = nil
if redis.call('EXISTS', KEYS[3]) == 1 and redis.call('TYPE', KEYS[3])['ok'] == 'string' then
  legacy = redis.call('GET', KEYS[3])
end
local in_hash = cur == ARGV[2] or prev == ARGV[2]
local in_legacy = legacy == ARGV[2]
local dropped = 0
if cur and (cur == ARGV[2] or (in_legacy and older(cur))) then
  dropped = dropped + redis.call('HDEL', KEYS[1], ARGV[1])
end
if prev and (prev == ARGV[2] or cur == ARGV[2] or (in_legacy and older(prev))) then
  dropped = dropped + redis.call('HDEL', KEYS[2], ARGV[1])
end
if legacy and (in_legacy or (in_hash and older(legacy))) then
  dropped = dropped + redis.call('DEL', KEYS[3])
end
return dropped
