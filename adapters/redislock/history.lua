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
--
-- redis.pcall: a history key someone broke (another type) loses the entry, never the action.
local HISTORY = { max = 0 }
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
  -- The common case (a restore, a deletion by a run: every field but the detail) without
  -- building a table: this runs once per restored lock of a recovery.
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
  if HISTORY.run_id ~= '' then
    a[#a + 1] = 'run_id'
    a[#a + 1] = HISTORY.run_id
  end
  if HISTORY.trigger ~= '' then
    a[#a + 1] = 'trigger'
    a[#a + 1] = HISTORY.trigger
  end
  if detail ~= nil and detail ~= '' then
    a[#a + 1] = 'detail'
    a[#a + 1] = detail
  end
  redis.pcall(unpack(a))
end
