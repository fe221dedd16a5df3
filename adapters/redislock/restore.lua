-- Restore locks atomically, each on its own: decide, and write only when the decision is
-- "restored". One call decides a batch of N locks (a single restore is a batch of one); the
-- decision for each lock is made by decide() below, exactly as if it ran alone.
--
-- ARGV[1] max age ms      ARGV[2] max staleness ms  ARGV[3] release settle ms
-- ARGV[4] tombstone TTL ms (used only to normalize an unreadable tombstone)
-- ARGV[5] tally TTL ms (used only with a tally key)
-- ARGV[6] restore marker TTL ms
-- ARGV[7] HISTORY_MAX (0: no history)   ARGV[8] run id   ARGV[9] trigger
-- Then per lock i (i = 1..N), three ARGV from 10 + 3(i-1):
--   new lock value ("{worker id}:{uuid}:{time}", so the worker-id prefix is read off it),
--   occupied-at ms, snapshot ms
-- KEYS per lock i: KEYS[2i-1] lock key, KEYS[2i] release tombstone key
--   (reconciler:released:{TAG}: the tag is what follows its 20-byte prefix).
-- KEYS[2N+1] the history stream: every restore and every refusal is appended there in this
--         same step (history.lua, prepended by Go): one entry per refusal, one entry for all
--         the restores of the call; already_locked writes nothing and is not recorded (a run
--         that finds the lock in place has nothing to say about it).
-- KEYS[2N+2] the restore marker hash, KEYS[2N+3] its previous generation (markers.lua,
--         prepended by Go): one field per restored lock, all written with one HSET at the end,
--         in this same step, so no restored lock goes unmarked.
-- KEYS[2N+4] (optional) the run's tally hash: every outcome is counted there in this same step,
--         so a decision is never made without being counted.
-- Returns the outcome names, one per lock, in order.

-- One clock: "now" is Redis's TIME, never the caller's. Snapshots are stamped with Redis TIME
-- (read just before the sheet request) and tombstones by their script with TIME, so replicas
-- whose own clocks are skewed still agree on every window. TIME is read before any write
-- (Redis 5+ replicates a script's effects, not the script, so this is allowed). One instant
-- serves the whole batch: the script runs alone, so nothing happens between its locks.
local function redis_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local now = redis_now_ms()
local now_text = string.format('%.0f', now)
local max_age = tonumber(ARGV[1])
local staleness = tonumber(ARGV[2])
local settle = tonumber(ARGV[3])
local tomb_ttl = tonumber(ARGV[4])

-- decide is the whole decision for one lock, checks in this order.
local function decide(lock_key, tomb_key, value, occupied, snapshot)
  -- 1. An existing key is never modified (value, type and TTL stay as they are), whatever it holds.
  -- EXISTS first: the usual answer (no key) is then an integer, not TYPE's status table.
  if redis.call('EXISTS', lock_key) == 1 then
    local kind = redis.call('TYPE', lock_key)['ok']
    local held = '(a ' .. kind .. ')'
    if kind == 'string' then
      held = redis.call('GET', lock_key)
      -- The worker-id prefix ("93:") of the value this restore would write.
      local prefix = string.sub(value, 1, string.find(value, ':', 1, true))
      if string.sub(held, 1, #prefix) == prefix then
        return 'already_locked'
      end
    end
    return 'holder_mismatch', 'the key holds ' .. held
  end

  -- 2. Aged out while queued (exactly max age is not too old).
  if now - occupied > max_age then
    return 'too_old', 'older than MAX_LOCK_AGE by the time the restore ran'
  end

  -- 3. The snapshot that planned this restore is too old to act on.
  if now - snapshot > staleness then
    return 'stale_snapshot', 'the snapshot was older than RESTORE_MAX_STALENESS'
  end

  -- 4. Released recently: the snapshot may predate the sheet catching up with the release.
  if redis.call('EXISTS', tomb_key) == 1 then
    local tomb_kind = redis.call('TYPE', tomb_key)['ok']
    local released = nil
    if tomb_kind == 'string' then
      released = tonumber(redis.call('GET', tomb_key))
    end
    if released == nil then
      -- Unreadable tombstone: treat it as a release happening now (refuse), and rewrite it so,
      -- which bounds the refusal to the tombstone's TTL instead of the garbage's lifetime.
      redis.call('SET', tomb_key, now_text, 'PX', tomb_ttl)
      return 'recently_released', 'unreadable tombstone, counted as a release now'
    end
    if snapshot < released + settle then
      return 'recently_released', 'released at ' .. string.format('%.0f', released) ..
        ' ms; the snapshot predates that + RELEASE_SETTLE'
    end
  end

  -- 5. Write the lock: only where no key exists, persistent (no TTL), like the backend.
  if not redis.call('SET', lock_key, value, 'NX') then
    return 'holder_mismatch', 'the key was taken'
  end
  return 'restored'
end

-- The layout of the keys and arguments of one lock (restore.go builds the same).
local KEYS_PER_LOCK, ARGS_PER_LOCK, FIRST_LOCK_ARG = 2, 3, 10
local n = math.floor((#ARGV - FIRST_LOCK_ARG + 1) / ARGS_PER_LOCK)
history_open(KEYS[KEYS_PER_LOCK * n + 1], ARGV[7], ARGV[8], ARGV[9])
markers_open(KEYS[KEYS_PER_LOCK * n + 2], KEYS[KEYS_PER_LOCK * n + 3], ARGV[6], now_text)
local outcomes = {}
local counts = {}
for i = 1, n do
  local k = KEYS_PER_LOCK * (i - 1)
  local a = FIRST_LOCK_ARG + ARGS_PER_LOCK * (i - 1)
  local value = ARGV[a]
  local outcome, why = decide(KEYS[k + 1], KEYS[k + 2], value, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]))
  outcomes[i] = outcome
  counts[outcome] = (counts[outcome] or 0) + 1
  if outcome ~= 'already_locked' then
    -- The tag is what follows the tombstone key's 20-byte prefix (reconciler:released:).
    local tag = string.sub(KEYS[k + 2], 21)
    if outcome == 'restored' then
      -- Mark the restore for verification (docs/design.md, "Verifying restores"): a later look
      -- from a fresh snapshot takes the lock back if the sheet does not back it.
      marker_collect(tag, value)
      history_collect(tag, 'restored', value)
    else
      history_add(tag, 'refused', value, outcome .. ': ' .. why)
    end
  end
end

-- One HSET for the markers of all the restores of this call (markers.lua), and one entry for
-- them in the history (history.lua).
markers_flush()
history_flush()

local tally = KEYS[KEYS_PER_LOCK * n + 4]
if tally then
  -- pcall: a tally key someone broke (another type, a field that is not a number) must not turn
  -- decisions already written into an error; the count is lost, the locks are right.
  for outcome, c in pairs(counts) do
    redis.pcall('HINCRBY', tally, outcome, c)
  end
  redis.pcall('PEXPIRE', tally, ARGV[5])
end
return outcomes
