-- Clear a tombstone when the spool was taken again (a `set` of the lock key), but only if the
-- tombstone is older than that set: a replica that handles the set late must not erase the
-- tombstone of a DEL that came after it.
-- KEYS[1] tombstone key       KEYS[2] the lock key
-- Keyspace notifications carry no time, so "older than the set" is read from Redis itself, in
-- this one atomic step: while the lock key exists, the last thing that happened to it was a
-- set (a later DEL would have removed it), so any tombstone is of a release before the key's
-- current set and goes. When the key is gone, a DEL came after the set being handled, and its
-- tombstone stays. No clock is involved, so lag and skew do not matter.
-- Returns 1 when it removed the tombstone, 0 otherwise.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
return redis.call('DEL', KEYS[1])
