-- history.lua: the history helper every script that acts on a spool shares. Go prepends this
-- file to the script's own source (historyScript in history.go), so the entry is appended in
-- the same atomic step as the action it records: no action without its entry, no entry
-- without its action.
--
--   history_open(key, maxlen, run_id, trigger)
--       once per call: the stream key (pass it in KEYS), HISTORY_MAX (0 or less: off), and
--       the run and trigger every entry of this call carries.
--   history_add(tag, action, value, detail)
--       one entry: XADD key MAXLEN ~ maxlen * tag … action … [value …] [run_id …]
--       [trigger …] [detail …]. Empty fields are left out (fewer bytes per entry). The
--       entry's time is its ID, stamped by Redis's own clock (the TIME every script uses).
--   history_add_spools(action, spools)
--       one grouped entry (below) whose `spools` field the caller already has: a restore batch
--       whose every lock was restored gets it from Go, built from the same tags and values.
--   history_collect(tag, action, value)   then, once at the end, history_flush()
--       the same for many spools of one call with the same action and no detail (a batch's
--       restores): history_flush writes ONE entry per action, with the field `spools` =
--       tag US value RS tag US value … (US = \31, RS = \30: neither can be in a restorable
--       tag nor in a lock value the worker writes) instead of `tag` and `value`, or a plain
--       entry when only one spool was collected. One XADD per batch instead of one per lock
--       keeps the history's cost in a recovery near nothing (BENCHMARKS.md); readers expand
--       a grouped entry into one entry per spool (history.go).
--
-- redis.pcall: a history key someone broke (another type) loses the entry, never the action.
local HISTORY = { max = 0 }
-- history_run_fields appends the run's fields (run id, trigger) that are set to an XADD's arguments.
local function history_run_fields(a)
  if HISTORY.run_id ~= '' then
    a[#a + 1] = 'run_id'
    a[#a + 1] = HISTORY.run_id
  end
  if HISTORY.trigger ~= '' then
    a[#a + 1] = 'trigger'
    a[#a + 1] = HISTORY.trigger
  end
end
local function history_open(key, maxlen, run_id, trigger)
  HISTORY.key = key
  HISTORY.max = tonumber(maxlen) or 0
  HISTORY.run_id = run_id or ''
  HISTORY.trigger = trigger or ''
end
local function history_add(tag, action, value, detail)
  if HISTORY.key == nil or HISTORY.max <= 0 then
    return
  end
  -- The common case (a single restore, a deletion by a run: every field but the detail),
  -- without building a table.
  if (detail == nil or detail == '') and value ~= nil and value ~= '' and HISTORY.run_id ~= '' and HISTORY.trigger ~= '' then
    redis.pcall('XADD', HISTORY.key, 'MAXLEN', '~', HISTORY.max, '*', 'tag', tag, 'action', action,
      'value', value, 'run_id', HISTORY.run_id, 'trigger', HISTORY.trigger)
    return
  end
  local a = { 'XADD', HISTORY.key, 'MAXLEN', '~', HISTORY.max, '*', 'tag', tag, 'action', action }
  if value ~= nil and value ~= '' then
    a[#a + 1] = 'value'
    a[#a + 1] = value
  end
  history_run_fields(a)
  if detail ~= nil and detail ~= '' then
    a[#a + 1] = 'detail'
    a[#a + 1] = detail
  end
  redis.pcall(unpack(a))
end

local function history_add_spools(action, spools)
  if HISTORY.key == nil or HISTORY.max <= 0 then
    return
  end
  local a = { 'XADD', HISTORY.key, 'MAXLEN', '~', HISTORY.max, '*', 'action', action, 'spools', spools }
  history_run_fields(a)
  redis.pcall(unpack(a))
end

local HISTORY_GROUPS = {}
local HISTORY_GROUP_ORDER = {}
local function history_collect(tag, action, value)
  if HISTORY.key == nil or HISTORY.max <= 0 then
    return -- the history is off: nothing to flush
  end
  local g = HISTORY_GROUPS[action]
  if g == nil then
    g = {}
    HISTORY_GROUPS[action] = g
    HISTORY_GROUP_ORDER[#HISTORY_GROUP_ORDER + 1] = action
  end
  g[#g + 1] = tag .. '\31' .. (value or '')
end
local function history_flush()
  if HISTORY.key == nil or HISTORY.max <= 0 then
    return
  end
  for _, action in ipairs(HISTORY_GROUP_ORDER) do
    local g = HISTORY_GROUPS[action]
    if #g == 1 then
      local bar = string.find(g[1], '\31', 1, true)
      history_add(string.sub(g[1], 1, bar - 1), action, string.sub(g[1], bar + 1), '')
    else
      history_add_spools(action, table.concat(g, '\30'))
    end
  end
  HISTORY_GROUPS = {}
  HISTORY_GROUP_ORDER = {}
end
