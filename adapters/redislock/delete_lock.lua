-- Compare-and-delete a lock and its bookkeeping in one step (a retraction or an orphan release).
-- KEYS[1] lock key   KEYS[2] restore marker key   KEYS[3] orphan sightings hash
-- ARGV[1] the lock value that was judged   ARGV[2] the tag (field of KEYS[3])
-- The lock is deleted only while it is a string equal to ARGV[1]: a lock re-taken or changed
-- since it was read is never touched. Returns 1 when it deleted the lock, 0 otherwise.
if redis.call('TYPE', KEYS[1])['ok'] ~= 'string' then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
