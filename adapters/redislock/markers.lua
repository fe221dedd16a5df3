-- markers.lua: the restore-marker writer every script that writes a lock for verification
-- shares (restore.lua, replace_lock.lua). Go prepends this file to the script's own source
-- (markerScript in marker.go), so a marker is written in the same atomic step as its lock.
--
--   markers_open(cur, prev, ttl_ms, now_text)
--       once per call: the two generations of the marker hash (RestoredKey and
--       RestoredPreviousKey, passed in KEYS), the marker TTL (RELEASE_SETTLE + 15 min) and the
--       call's Redis time as text.
--   marker_collect(tag, value)   then, once at the end, markers_flush()
--       field tag = "{now ms}|{value}" for each lock written; markers_flush writes them all
--       with ONE HSET (per 1,000 fields), instead of one key and one SET per lock.
--
-- Redis 7.0 has no TTL per hash field, so the hash is kept in two generations. The current one
-- is born with a TTL of two marker TTLs (PEXPIRE when HSET creates it; never refreshed), and a
-- writer that finds it older than one TTL (less than one TTL left) renames it to the previous
-- generation, which then lives one more TTL from now, and starts a new one. So:
--   - every field outlives its TTL: a field written into the current hash has at least one TTL
--     left there, and a rename gives it a full TTL from the rename, later than its write;
--   - no field outlives three TTLs, and each hash holds at most one TTL's writes: the hashes
--     stay bounded however long restores go on (no sweep, nothing per field), and an idle one
--     disappears by itself;
--   - readers (marker.go) treat a field older than the TTL as absent, exactly as the key per
--     marker used to expire, and take a tag's newer marker when both generations have one.
-- The TTL is the writer's (RELEASE_SETTLE + 15 min): replicas are expected to share it. With
-- different ones a field may go before its writer's TTL (readers then see no marker).
-- A current hash without TTL (someone removed it) has an unknown age: it is renamed away too.
-- A key of another type where the hash should be is replaced: markers are the worker's own
-- bookkeeping, and a lock must never stay unmarked because its marker could not be written.
local MARKERS = { n = 0, fields = {} }
local MARKERS_CHUNK = 2000 -- values per HSET (1,000 fields): far below unpack's stack limit
local function markers_open(cur, prev, ttl, now_text)
  MARKERS.cur = cur
  MARKERS.prev = prev
  MARKERS.ttl = tonumber(ttl)
  MARKERS.ttl_text = string.format('%.0f', MARKERS.ttl)
  MARKERS.ttl2_text = string.format('%.0f', 2 * MARKERS.ttl)
  MARKERS.now = now_text
end
local function marker_collect(tag, value)
  local n = MARKERS.n
  MARKERS.fields[n + 1] = tag
  MARKERS.fields[n + 2] = MARKERS.now .. '|' .. value
  MARKERS.n = n + 2
end
local function markers_flush()
  local f, n, cur, ttl = MARKERS.fields, MARKERS.n, MARKERS.cur, MARKERS.ttl
  if n == 0 then
    return
  end
  local left = redis.call('PTTL', cur)
  local born = left == -2
  if left == -1 or (left >= 0 and left < ttl) then
    redis.call('RENAME', cur, MARKERS.prev)
    redis.call('PEXPIRE', MARKERS.prev, MARKERS.ttl_text)
    born = true
  end
  for i = 1, n, MARKERS_CHUNK do
    local last = math.min(i + MARKERS_CHUNK - 1, n)
    local r = redis.pcall('HSET', cur, unpack(f, i, last))
    if type(r) == 'table' and r.err then
      redis.call('DEL', cur)
      redis.call('HSET', cur, unpack(f, i, last))
      born = true
    end
  end
  if born then
    redis.call('PEXPIRE', cur, MARKERS.ttl2_text)
  end
  MARKERS.fields = {}
  MARKERS.n = 0
end
