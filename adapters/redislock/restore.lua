-- Restore locks atomically, each on its own: decide, and write only when the decision is
-- "restored". One call decides a batch of N locks (a single restore is a batch of one); the
-- decision for each lock is made by decide() below, exactly as if it ran alone.
--
-- ARGV[1] max age ms      ARGV[2] max staleness ms  ARGV[3] release settle ms
-- ARGV[4] tombstone TTL ms (used only to normalize an unreadable tombstone)
-- ARGV[5] tally TTL ms (used only with a tally key)
-- ARGV[6] restore marker TTL ms
-- ARGV[7] HISTORY_MAX (0: no history)   ARGV[8] run id   ARGV[9] trigger
-- ARGV[10] the snapshot ms of every lock when they share it (a run's batch), or '' when each
--          lock has its own
-- ARGV[11] the earliest occupied-at ms of the batch
-- ARGV[12] the history's `spools` field for the batch if every lock is restored (tag US value
--          RS tag US value ..., in order: what history_collect would build), or ''
-- ARGV[13] how many arguments each lock has (below): 1, 2, or 3
-- Then per lock i (i = 1..N), from ARGV[14]: the new lock value ("{worker id}:{uuid}:{time}",
--   so the worker-id prefix is read off it); with 2 or 3, its occupied-at ms; with 3 (only when
--   ARGV[10] is ''), its snapshot ms. With 1 the locks' times are not sent: the batch's earliest
--   occupation stands for them while it is not too old, and when it is, the call writes
--   nothing and answers '' (no letter at all): the caller sends the batch again with 2.
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
-- Returns one string, a letter per lock, in order (CODES below; restore.go reads them back).
--
-- What a lock costs is kept to what its decision needs (BENCHMARKS.md): the arguments shared by
-- the batch come once, numbers are converted only when a check needs them (tonumber is a
-- strtod), the checks that have one answer for the whole batch are made once (decide_clear:
-- then a lock costs one SET NX), and the answer is one string instead of a table of names. The
-- checks, their order, the details and what is written are those of decide() in every case.

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
local CODES = { restored = 'R', already_locked = 'A', holder_mismatch = 'H', too_old = 'O',
  stale_snapshot = 'S', recently_released = 'L' }

-- The layout of the arguments of one lock (restore.go builds the same).
local FIRST_LOCK_ARG = 14
local ARGS_PER_LOCK = tonumber(ARGV[13])
local shared_snapshot = nil
if ARGV[10] ~= '' then
  shared_snapshot = tonumber(ARGV[10])
end
-- No lock of the batch is too old when its earliest is not: check 2 then passes for all
-- without reading each lock's time (now - occupied <= now - earliest <= max age).
local none_too_old = now - tonumber(ARGV[11]) <= max_age
if not none_too_old and ARGS_PER_LOCK == 1 then
  return '' -- some lock may be too old: its time is needed (nothing was written)
end
-- With a shared snapshot, check 3 has one answer for the whole batch.
local shared_stale = shared_snapshot ~= nil and now - shared_snapshot > staleness

local function too_old(a)
  return not none_too_old and now - tonumber(ARGV[a + 1]) > max_age
end
local function stale(a)
  if shared_snapshot then
    return shared_stale
  end
  return now - tonumber(ARGV[a + 2]) > staleness
end

-- Check 1's answer for a lock key that exists: it is never modified (value, type and TTL stay
-- as they are), whatever it holds.
local function held(lock_key, value)
  local kind = redis.call('TYPE', lock_key)['ok']
  local holds = '(a ' .. kind .. ')'
  if kind == 'string' then
    holds = redis.call('GET', lock_key)
    -- The worker-id prefix ("93:") of the value this restore would write.
    local prefix = string.sub(value, 1, string.find(value, ':', 1, true))
    if string.sub(holds, 1, #prefix) == prefix then
      return 'already_locked'
    end
  end
  return 'holder_mismatch', 'the key holds ' .. holds
end

-- decide is the whole decision for one lock, checks in this order. a is the index of the
-- lock's first argument (its value).
local function decide(lock_key, tomb_key, a)
  local value = ARGV[a]
  -- 1. An existing key is never modified.
  -- EXISTS first: the usual answer (no key) is then an integer, not TYPE's status table.
  if redis.call('EXISTS', lock_key) == 1 then
    return held(lock_key, value)
  end

  -- 2. Aged out while queued (exactly max age is not too old).
  if too_old(a) then
    return 'too_old', 'older than MAX_LOCK_AGE by the time the restore ran'
  end

  -- 3. The snapshot that planned this restore is too old to act on.
  if stale(a) then
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
    local snapshot = shared_snapshot or tonumber(ARGV[a + 2])
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

-- decide_clear is decide for a batch where checks 2, 3 and 4 pass for every lock: none is too
-- old, the shared snapshot is not stale, and no lock has a tombstone (one EXISTS of all of
-- them, below). What remains is check 1 and the write, and SET NX does both: it writes only
-- where no key exists, and where one does, check 1 answers from it as decide would.
local function decide_clear(lock_key, a)
  if redis.call('SET', lock_key, ARGV[a], 'NX') then
    return 'restored'
  end
  return held(lock_key, ARGV[a])
end

local n = math.floor((#ARGV - FIRST_LOCK_ARG + 1) / ARGS_PER_LOCK)
history_open(KEYS[2 * n + 1], ARGV[7], ARGV[8], ARGV[9])
markers_open(KEYS[2 * n + 2], KEYS[2 * n + 3], ARGV[6], now_text)
-- Whether the batch is clear (see decide_clear). Nothing is written before this is read, and
-- a lock's decision writes a tombstone only where one existed, so it holds for the whole call.
local clear = false
if none_too_old and shared_snapshot ~= nil and not shared_stale then
  local tombs = {}
  for i = 1, n do
    tombs[i] = KEYS[2 * i]
  end
  clear = n > 0 and redis.call('EXISTS', unpack(tombs)) == 0
end
local codes = {}
local counts = {}
-- While every lock so far was restored, ARGV[12] stands for their history entry; the first
-- that is not ends that, and the restores before it are collected as history_collect would
-- have collected them.
local grouped = ARGV[12] ~= ''
for i = 1, n do
  local k = 2 * i - 1
  local a = FIRST_LOCK_ARG + ARGS_PER_LOCK * (i - 1)
  local outcome, why
  if clear then
    outcome, why = decide_clear(KEYS[k], a)
  else
    outcome, why = decide(KEYS[k], KEYS[k + 1], a)
  end
  codes[i] = CODES[outcome]
  counts[outcome] = (counts[outcome] or 0) + 1
  if grouped and outcome ~= 'restored' then
    grouped = false
    for j = 1, i - 1 do
      history_collect(string.sub(KEYS[2 * j], 21), 'restored', ARGV[FIRST_LOCK_ARG + ARGS_PER_LOCK * (j - 1)])
    end
  end
  if outcome ~= 'already_locked' then
    -- The tag is what follows the tombstone key's 20-byte prefix (reconciler:released:).
    local tag = string.sub(KEYS[k + 1], 21)
    if outcome == 'restored' then
      -- Mark the restore for verification (docs/design.md, "Verifying restores"): a later look
      -- from a fresh snapshot takes the lock back if the sheet does not back it.
      marker_collect(tag, ARGV[a])
      if not grouped then
        history_collect(tag, 'restored', ARGV[a])
      end
    else
      history_add(tag, 'refused', ARGV[a], outcome .. ': ' .. why)
    end
  end
end

-- One HSET for the markers of all the restores of this call (markers.lua), and one entry for
-- them in the history (history.lua).
markers_flush()
if grouped then
  history_add_spools('restored', ARGV[12])
else
  history_flush()
end

local tally = KEYS[2 * n + 4]
if tally then
  -- pcall: a tally key someone broke (another type, a field that is not a number) must not turn
  -- decisions already written into an error; the count is lost, the locks are right.
  for outcome, c in pairs(counts) do
    redis.pcall('HINCRBY', tally, outcome, c)
  end
  redis.pcall('PEXPIRE', tally, ARGV[5])
end
return table.concat(codes)
