-- Compare-and-delete a lock and its bookkeeping in one step (a retraction or an orphan release).
-- KEYS[1] lock key   KEYS[2] restore marker hash (field ARGV[2])   KEYS[3] orphan sightings hash
-- KEYS[4] the deleting key of the tag (reconciler:deleting:{TAG}), a name no lock key can have
-- KEYS[5] the history stream   KEYS[6] the marker hash's previous generation (field ARGV[2])
-- KEYS[7] the tag's marker key of earlier versions (reconciler:restored:{TAG})
-- ARGV[1] the lock value that was judged   ARGV[2] the tag (field of KEYS[3])
-- ARGV[3] the history action (retracted, released, ...)   ARGV[4] its detail (the reason)
-- ARGV[5] HISTORY_MAX   ARGV[6] run id   ARGV[7] trigger (history.lua's history_open)
-- The lock is deleted only while it is a string equal to ARGV[1]: a lock re-taken or changed
-- since it was read is never touched (and nothing is recorded). Returns 1 when it deleted the
-- lock, 0 otherwise. A deletion is appended to the history in this same step.
--
-- The worker's own deletions must leave no release tombstone: tombstones stand for the
-- backend's releases, and the keyspace watcher writes one for every `del` of a lock key. So the
-- lock is not DELeted under its own name: it is RENAMEd to KEYS[4] and that key is deleted.
-- The lock key's channel then carries `rename_from`, which no watcher acts on, and the `del`
-- lands on a key outside the lock prefix. Nothing to mark, nothing to expire: every replica's
-- watcher, however late, sees no release here.
if not lock_holds(KEYS[1], ARGV[1]) then
  return 0
end
local renamed = redis.pcall('RENAME', KEYS[1], KEYS[4])
if type(renamed) == 'table' and renamed.err then
  -- RENAME refused (a server with the command renamed away): delete all the same. The watcher
  -- then tombstones this deletion like a release, as before: slower to re-take, never wrong.
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[4], KEYS[7])
-- pcall: a marker hash someone replaced by another type holds no marker of this lock.
redis.pcall('HDEL', KEYS[2], ARGV[2])
redis.pcall('HDEL', KEYS[6], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
history_open(KEYS[5], ARGV[5], ARGV[6], ARGV[7])
history_add(ARGV[2], ARGV[3], ARGV[1], ARGV[4])
return 1
