-- Clear a tombstone when the spool was taken again (a `set` of the lock key), but only if the
-- tombstone is older than that set: a replica that handles the set late must not erase the
-- tombstone of a DEL that came after it.
-- KEYS[1] tombstone key
-- ARGV[1] how long ago the caller received the set event, ms (its own monotonic clock: a
--         duration, so its clock's skew does not matter)
-- ARGV[2] margin ms: how long a notification may wait before the caller reads it
-- The set happened no later than Redis TIME − ARGV[1]; a tombstone is older than the set when its
-- time is before TIME − ARGV[1] − ARGV[2]. An unreadable tombstone (not a number, another
-- type) is removed: the spool is taken, and it could only block a restore.
-- Returns 1 when it removed the tombstone, 0 otherwise.
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then
  return 0
end
if kind == 'string' then
  local released = tonumber(redis.call('GET', KEYS[1]))
  if released ~= nil then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if released >= now - tonumber(ARGV[1]) - tonumber(ARGV[2]) then
      return 0
    end
  end
end
redis.call('DEL', KEYS[1])
return 1
