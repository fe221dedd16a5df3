-- Compare-and-set a restored lock to another occupation's lock in one step (a retraction whose
-- row shows another holder or time): never delete-then-restore, so the key is never empty and
-- the backend's SET NX cannot slip in between.
-- KEYS[1] lock key   KEYS[2] restore marker hash   KEYS[3] orphan sightings hash
-- ARGV[1] the lock value that was judged (the value the worker restored)
-- ARGV[2] the new lock value (the row's own occupation)   ARGV[3] restore marker TTL ms
-- ARGV[4] the tag (field of KEYS[2], KEYS[3] and KEYS[5])
-- KEYS[4] the history stream   ARGV[5] the history detail
-- ARGV[6] HISTORY_MAX   ARGV[7] run id   ARGV[8] trigger (history.lua's history_open)
-- KEYS[5] the marker hash's previous generation
-- KEYS[6] the tag's marker key of earlier versions (reconciler:restored:{TAG})
-- The key is rewritten only while it is a string equal to ARGV[1]. The new value is persistent
-- (SET without options drops any TTL; the restored value had none) and gets its own restore
-- marker "{now ms}|{value}", like a restore (markers.lua), so it is verified in turn; the old
-- marker is overwritten (or removed from the previous generation, or from an earlier version's
-- key) and the tag's orphan sighting (of the old value) dropped. The swap is appended to the
-- history (action `replaced`, the new value) in this same step.
-- Returns 1 when it swapped, 0 otherwise.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if not lock_holds(KEYS[1], ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
markers_open(KEYS[2], KEYS[5], ARGV[3], string.format('%.0f', now))
marker_collect(ARGV[4], ARGV[2])
markers_flush()
-- After the flush: a rotation may have just moved the old marker to the previous generation.
redis.pcall('HDEL', KEYS[5], ARGV[4])
redis.call('DEL', KEYS[6])
redis.call('HDEL', KEYS[3], ARGV[4])
history_open(KEYS[4], ARGV[6], ARGV[7], ARGV[8])
history_add(ARGV[4], 'replaced', ARGV[2], ARGV[5])
return 1
