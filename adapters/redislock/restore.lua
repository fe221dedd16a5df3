-- Restore one lock atomically: decide, and write only when the decision is "restored".
-- KEYS[1] lock key            KEYS[2] release tombstone key
-- ARGV[1] new lock value      ARGV[2] worker-id prefix, e.g. "93:"
-- ARGV[3] occupied-at ms      ARGV[4] max age ms
-- ARGV[5] snapshot ms         ARGV[6] max staleness ms
-- ARGV[7] release settle ms
-- ARGV[8] tombstone TTL ms (used only to normalize an unreadable tombstone)
-- KEYS[3] (optional) the run's tally hash: the outcome is counted there in this same step, so
--         a decision is never made without being counted      ARGV[9] tally TTL ms
-- Returns the outcome name.

-- One clock: "now" is Redis's TIME, never the caller's. Snapshots are stamped with Redis TIME
-- (read just before the sheet request) and tombstones by their script with TIME, so replicas
-- whose own clocks are skewed still agree on every window. TIME is read before any write
-- (Redis 5+ replicates a script's effects, not the script, so this is allowed).
local function redis_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local now = redis_now_ms()
local occupied = tonumber(ARGV[3])
local max_age = tonumber(ARGV[4])
local snapshot = tonumber(ARGV[5])
local staleness = tonumber(ARGV[6])
local settle = tonumber(ARGV[7])
local tomb_ttl = tonumber(ARGV[8])

local function decide()
  -- 1. An existing key is never modified (value, type and TTL stay as they are), whatever it holds.
  local kind = redis.call('TYPE', KEYS[1])['ok']
  if kind ~= 'none' then
    if kind == 'string' then
      local v = redis.call('GET', KEYS[1])
      if string.sub(v, 1, #ARGV[2]) == ARGV[2] then
        return 'already_locked'
      end
    end
    return 'holder_mismatch'
  end

  -- 2. Aged out while queued (exactly max age is not too old).
  if now - occupied > max_age then
    return 'too_old'
  end

  -- 3. The snapshot that planned this restore is too old to act on.
  if now - snapshot > staleness then
    return 'stale_snapshot'
  end

  -- 4. Released recently: the snapshot may predate the sheet catching up with the release.
  local tomb_kind = redis.call('TYPE', KEYS[2])['ok']
  if tomb_kind ~= 'none' then
    local released = nil
    if tomb_kind == 'string' then
      released = tonumber(redis.call('GET', KEYS[2]))
    end
    if released == nil then
      -- Unreadable tombstone: treat it as a release happening now (refuse), and rewrite it so,
      -- which bounds the refusal to the tombstone's TTL instead of the garbage's lifetime.
      redis.call('SET', KEYS[2], string.format('%.0f', now), 'PX', tomb_ttl)
      return 'recently_released'
    end
    if snapshot < released + settle then
      return 'recently_released'
    end
  end

  -- 5. Write the lock: only where no key exists, persistent (no TTL), like the backend.
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then
    return 'holder_mismatch'
  end
  return 'restored'
end

local outcome = decide()
if KEYS[3] then
  -- pcall: a tally key someone broke (another type, a field that is not a number) must not turn
  -- a decision already written into an error; the count is lost, the lock is right.
  redis.pcall('HINCRBY', KEYS[3], outcome, 1)
  redis.pcall('PEXPIRE', KEYS[3], ARGV[9])
end
return outcome
