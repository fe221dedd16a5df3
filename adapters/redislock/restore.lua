-- Restore one lock atomically: decide, and write only when the decision is "restored".
-- KEYS[1] lock key            KEYS[2] release tombstone key
-- ARGV[1] new lock value      ARGV[2] worker-id prefix, e.g. "93:"
-- ARGV[3] now ms              ARGV[4] occupied-at ms
-- ARGV[5] max age ms          ARGV[6] snapshot ms
-- ARGV[7] max staleness ms    ARGV[8] release settle ms
-- ARGV[9] tombstone TTL ms (used only to normalize an unreadable tombstone)
-- KEYS[3] restore marker key (reconciler:restored:{TAG})   ARGV[10] marker TTL ms
-- KEYS[4] (optional) the run's tally hash: the outcome is counted there in this same step, so
--         a decision is never made without being counted      ARGV[11] tally TTL ms
-- Returns the outcome name.

local now = tonumber(ARGV[3])
local occupied = tonumber(ARGV[4])
local max_age = tonumber(ARGV[5])
local snapshot = tonumber(ARGV[6])
local staleness = tonumber(ARGV[7])
local settle = tonumber(ARGV[8])
local tomb_ttl = tonumber(ARGV[9])

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
      redis.call('SET', KEYS[2], ARGV[3], 'PX', tomb_ttl)
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
  -- 6. Mark the restore for verification (DESIGN.md, "The release race"): "{now ms}|{value}",
  --    written only with a lock, in this same step, so no restored lock goes unmarked. A later
  --    look from a fresh snapshot takes the lock back if the sheet does not back it.
  --    [verify marker: port this SET with the lock write; `now` is the script's "now"]
  redis.call('SET', KEYS[3], string.format('%.0f', now) .. '|' .. ARGV[1], 'PX', ARGV[10])
  return 'restored'
end

local outcome = decide()
if KEYS[4] then
  -- pcall: a tally key someone broke (another type, a field that is not a number) must not turn
  -- a decision already written into an error; the count is lost, the lock is right.
  redis.pcall('HINCRBY', KEYS[4], outcome, 1)
  redis.pcall('PEXPIRE', KEYS[4], ARGV[11])
end
return outcome
