-- Compare-and-delete: delete KEYS[1] only while it is a string equal to ARGV[1] (used for restore
-- markers, which a newer restore may have rewritten).
-- Returns 1 when it deleted, 0 otherwise.
if redis.call('TYPE', KEYS[1])['ok'] ~= 'string' then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
return redis.call('DEL', KEYS[1])
