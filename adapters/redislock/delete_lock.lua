-- Compare-and-delete a lock and its bookkeeping in one step (a retraction or an orphan release).
-- KEYS[1] lock key   KEYS[2] restore marker key   KEYS[3] orphan sightings hash
-- KEYS[4] the history stream
-- ARGV[1] the lock value that was judged   ARGV[2] the tag (field of KEYS[3])
-- ARGV[3] the history action (retracted, released, ...)   ARGV[4] its detail (the reason)
-- ARGV[5] HISTORY_MAX   ARGV[6] run id   ARGV[7] trigger (history.lua's history_open)
-- The lock is deleted only while it is a string equal to ARGV[1]: a lock re-taken or changed
-- since it was read is never touched (and nothing is recorded). A deletion is appended to the
-- history in this same step. Returns 1 when it deleted the lock, 0 otherwise.
if redis.call('TYPE', KEYS[1])['ok'] ~= 'string' then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[2])
history_open(KEYS[4], ARGV[5], ARGV[6], ARGV[7])
history_add(ARGV[2], ARGV[3], ARGV[1], ARGV[4])
return 1
