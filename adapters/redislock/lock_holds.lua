-- lock_holds reports whether key is a string holding exactly value: the compare that comes
-- before the worker deletes (delete_lock.lua) or swaps (replace_lock.lua) a lock it judged.
-- Prepended by Go to the scripts that use it.
local function lock_holds(key, value)
  return redis.call('TYPE', key)['ok'] == 'string' and redis.call('GET', key) == value
end
