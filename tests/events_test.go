package tests

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/jobs"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// eventsEnv is a worker configuration with keyspace events turned on by the worker.
func eventsEnv(rds *redisserver.Server, emu *sheetsemu.Emulator, extra map[string]string) map[string]string {
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "configure",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// expireNow makes key expire the way a TTL does, with an "expired" event. PEXPIRE 1 ms is not
// enough: when the millisecond has passed before Redis checks it, Redis deletes the key as
// "already expired" and publishes "del", which the worker rightly takes for a release.
// Reading the key (EXISTS) until it is gone expires it lazily the moment its TTL has run out.
func expireNow(t *testing.T, rds *redisserver.Server, key string) {
	t.Helper()
	rds.MustDo("PEXPIRE", key, "30")
	if !eventually(5*time.Second, func() bool { return rds.MustDo("EXISTS", key) == "0" }) {
		t.Fatalf("%s did not expire", key)
	}
}

// reconcilesIdle says no reconcile is queued, waiting in a group, running or due for a retry.
func reconcilesIdle(t *testing.T, inspector *asynq.Inspector) bool {
	t.Helper()
	q, err := inspector.GetQueueInfo(jobs.QueueReconcile)
	if err != nil {
		return false
	}
	return q.Pending+q.Active+q.Scheduled+q.Retry+q.Aggregating == 0
}

// batchGets counts the emulator's data reads (header-only reads are not counted).
func batchGets(emu *sheetsemu.Emulator) int {
	n := 0
	for _, r := range emu.Reads() {
		if strings.Contains(r.Path, "batchGet") {
			n++
		}
	}
	return n
}

func startInSync(t *testing.T, rows int, extra map[string]string) (*redisserver.Server, *sheetsemu.Emulator, spoolSheet, *proc) {
	t.Helper()
	sheet := buildSheet(t, rows, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	w := startWorker(t, eventsEnv(rds, emu, extra))
	if !eventually(30*time.Second, func() bool { return countLocks(rds) == len(sheet.candidates) }) {
		t.Fatalf("boot reconcile: %d locks, want %d", countLocks(rds), len(sheet.candidates))
	}
	if !eventually(10*time.Second, func() bool {
		flags, _ := rds.Do("CONFIG", "GET", "notify-keyspace-events")
		return strings.Contains(flags, "x")
	}) {
		t.Fatal("KEYSPACE_EVENTS=configure did not turn keyspace notifications on")
	}
	return rds, emu, sheet, w
}

// TestExpiredLocksComeBack: PEXPIRE 1 ms on lock keys; keyspace events bring them back, and a
// burst of 1,000 expirations costs a handful of sheet reads, not 1,000.
//
// Redis itself turns a few PEXPIRE 1 ms into a DEL (the millisecond passed while the command
// ran: "already expired"), which the worker must take for a release: those come back once
// RELEASE_SETTLE has passed, with no schedule running.
func TestExpiredLocksComeBack(t *testing.T) {
	rds, emu, sheet, w := startInSync(t, 5000, map[string]string{"RELEASE_SETTLE": "2s"})
	one := sheet.candidates[0].tag
	rds.MustDo("PEXPIRE", "spool_lock:"+one, "1")
	// PTTL -2: gone; -1: back, persistent (the key holding its 1 ms TTL shows a positive PTTL).
	if !eventually(15*time.Second, func() bool { return rds.MustDo("PTTL", "spool_lock:"+one) == "-1" }) {
		t.Fatalf("expired lock %s did not come back as a persistent lock: PTTL %s", one, rds.MustDo("PTTL", "spool_lock:"+one))
	}

	// The burst uses 30 ms TTLs: only "expired" events (no DEL, so no delayed look after
	// RELEASE_SETTLE), so once every lock is back and no reconcile is queued, no further read
	// can come and the count below is final.
	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: rds.Addr()})
	t.Cleanup(func() { _ = inspector.Close() })
	if !eventually(10*time.Second, func() bool { return reconcilesIdle(t, inspector) }) {
		t.Fatal("reconciles still queued after the first expiration")
	}
	before, beforeAt := batchGets(emu), time.Now()
	for _, c := range sheet.candidates[:1000] {
		rds.MustDo("PEXPIRE", "spool_lock:"+c.tag, "30")
	}
	// Redis deletes an expired key (and only then publishes "expired") when it is touched or
	// when its sampling expiry cycle finds it, which with thousands of asynq keys holding TTLs
	// can take a while. A SCAN touches every key, as the backend's own reads would; it is
	// repeated until the TTLs have run out and every expired lock is back.
	if !eventually(30*time.Second, func() bool {
		rds.MustDo("SCAN", "0", "MATCH", "spool_lock:*", "COUNT", "100000")
		return countLocks(rds) == len(sheet.candidates) && reconcilesIdle(t, inspector)
	}) {
		var gone []string
		for _, c := range sheet.candidates {
			if ttl := rds.MustDo("PTTL", "spool_lock:"+c.tag); ttl != "-1" {
				gone = append(gone, c.tag+" "+ttl)
			}
		}
		t.Fatalf("after 1,000 expirations: %d locks, want %d; missing: %v\n%s", countLocks(rds), len(sheet.candidates), gone, summary(w.Stderr.String()))
	}
	// Every restore is verified RELEASE_SETTLE + 1 s later by a look of its own, coalesced
	// too: those reads are counted apart (the boot's restores' looks land in this window too).
	verifies := runsFinishedAfter(w.Stderr.String(), "verify", beforeAt)
	if reads := batchGets(emu) - before - verifies; reads > 6 || verifies > 6 {
		t.Fatalf("1,000 expirations cost %d sheet reads and %d verifying looks, want a handful of each (≤ 6)", reads, verifies)
	}
}

// TestReleaseRaceNeverResurrects: the backend's FINALIZAR deletes the lock, then clears the
// row, while the sheet keeps serving the old row for a few seconds. Reconciles every second
// read that stale row and plan its restore; the tombstone must make every such restore refuse
// (recently_released), and none may write the lock. The test ends once a reconcile has read
// the cleared row and every restore has run, so it counts what happened rather than watching
// the key for a while.
func TestReleaseRaceNeverResurrects(t *testing.T) {
	rds, emu, sheet, w := startInSync(t, 200, map[string]string{
		"RECONCILE_SCHEDULE": "@every 1s", "RELEASE_SETTLE": "6s", "LOG_FORMAT": "json",
	})
	released := sheet.candidates[3]
	key := "spool_lock:" + released.tag
	freeBefore := freeRows(w.Stderr.String())
	restoredBefore := restoreOutcomes(w.Stderr.String(), released.tag)["restored"] // the boot run's

	emu.ServeStaleFor(4 * time.Second)
	rds.MustDo("DEL", key) // FINALIZAR: the lock first…
	cleared := clearRow(sheet.grid, released.tag)
	emu.SetSheet("Operaciones", cleared) // …then the sheet, which stays stale for 4 s

	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: rds.Addr()})
	t.Cleanup(func() { _ = inspector.Close() })
	restoresIdle := func() bool {
		q, err := inspector.GetQueueInfo(jobs.QueueRestore)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0
	}
	// A reconcile saw the row free (the stale window is over) and the restores planned from
	// stale reads before it have all run.
	if !eventually(20*time.Second, func() bool { return freeRows(w.Stderr.String()) > freeBefore && restoresIdle() }) {
		t.Fatalf("no reconcile read the cleared row:\n%s", summary(w.Stderr.String()))
	}
	outcomes := restoreOutcomes(w.Stderr.String(), released.tag)
	if outcomes["recently_released"] == 0 {
		t.Fatalf("no restore of %s was refused as recently_released (outcomes %v): no reconcile read the stale row, so the race was not exercised",
			released.tag, outcomes)
	}
	if outcomes["restored"] > restoredBefore || rds.MustDo("EXISTS", key) == "1" {
		t.Fatalf("released lock %s was resurrected (outcomes %v): %s", released.tag, outcomes, rds.MustDo("GET", key))
	}
}

// freeRows is the largest free-row count any logged reconcile saw.
func freeRows(log string) int {
	most := 0
	for _, rec := range logLines(log, "reconcile finished") {
		if n, ok := rec["free"].(float64); ok && int(n) > most {
			most = int(n)
		}
	}
	return most
}

// restoreOutcomes counts the logged restore outcomes of tag.
func restoreOutcomes(log, tag string) map[string]int {
	out := map[string]int{}
	for _, rec := range logLines(log, "restore") {
		if rec["tag"] == tag {
			out[fmt.Sprint(rec["outcome"])]++
		}
	}
	return out
}

// TestReleaseWithoutSheetClearIsRestoredAfterSettle: a DEL whose row stays occupied (the
// backend failed to clear it) is restored once RELEASE_SETTLE has passed, not before.
func TestReleaseWithoutSheetClearIsRestoredAfterSettle(t *testing.T) {
	rds, _, sheet, _ := startInSync(t, 200, map[string]string{
		"RECONCILE_SCHEDULE": "@every 1s", "RELEASE_SETTLE": "4s",
	})
	lost := sheet.candidates[5]
	key := "spool_lock:" + lost.tag
	deleted := time.Now()
	rds.MustDo("DEL", key)
	if !eventually(20*time.Second, func() bool { return rds.MustDo("EXISTS", key) == "1" }) {
		t.Fatalf("lock %s deleted while the sheet still says occupied was never restored", lost.tag)
	}
	if took := time.Since(deleted); took < 4*time.Second {
		t.Fatalf("lock restored %v after the DEL, before RELEASE_SETTLE (4s)", took)
	}
	if m := lockValue.FindStringSubmatch(rds.MustDo("GET", key)); m == nil || m[1] != strconv.Itoa(lost.workerID) {
		t.Fatalf("restored lock has the wrong value: %q", rds.MustDo("GET", key))
	}
}

// TestRetakenSpoolClearsTombstone: a new SET of the lock (the spool taken again) deletes its
// tombstone, so a lock lost after the re-take is restored at once rather than after the window.
func TestRetakenSpoolClearsTombstone(t *testing.T) {
	rds, _, sheet, _ := startInSync(t, 200, map[string]string{"RELEASE_SETTLE": "60s"})
	c := sheet.candidates[7]
	key := "spool_lock:" + c.tag
	value := rds.MustDo("GET", key)
	rds.MustDo("DEL", key)
	if !eventually(5*time.Second, func() bool { return rds.MustDo("EXISTS", "reconciler:released:"+c.tag) == "1" }) {
		t.Fatal("a DEL of a lock left no tombstone")
	}
	rds.MustDo("SET", key, value) // taken again
	if !eventually(5*time.Second, func() bool { return rds.MustDo("EXISTS", "reconciler:released:"+c.tag) == "0" }) {
		t.Fatal("re-taking the spool did not clear its tombstone")
	}
	expireNow(t, rds, key)
	if !eventually(10*time.Second, func() bool { return rds.MustDo("PTTL", key) == "-1" }) {
		t.Fatal("a lock lost after a re-take waited for the release window")
	}
}

// TestKeyspaceAutoModeWithNotificationsOff: the server has notifications off; auto leaves the
// server alone and says it relies on the schedule.
func TestKeyspaceAutoModeWithNotificationsOff(t *testing.T) {
	sheet := buildSheet(t, 50, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	w := startWorker(t, eventsEnv(rds, emu, map[string]string{"KEYSPACE_EVENTS": "auto"}))
	if !eventually(10*time.Second, func() bool {
		return strings.Contains(w.Stderr.String(), "relies on RECONCILE_SCHEDULE")
	}) {
		t.Fatalf("auto mode with notifications off did not say it relies on the schedule:\n%s", tail(w.Stderr.String(), 20))
	}
	if flags := rds.MustDo("CONFIG", "GET", "notify-keyspace-events"); strings.TrimSpace(strings.TrimPrefix(flags, "notify-keyspace-events")) != "" {
		t.Fatalf("auto mode changed the server's flags: %q", flags)
	}
}

// TestLockLostDuringLongReconcile: a lock expires while a slow full reconcile is in flight; a
// follow-up restores it without waiting for a schedule tick (the schedule is off).
func TestLockLostDuringLongReconcile(t *testing.T) {
	rds, emu, sheet, _ := startInSync(t, 200, nil)
	emu.SetDelay(4 * time.Second)
	env := eventsEnv(rds, emu, nil)
	reads := batchGets(emu)
	if _, errOut, code := cli(t, env, "enqueue"); code != 0 {
		t.Fatalf("enqueue: %d %s", code, errOut)
	}
	// The manual reconcile's read has reached the sheet, which holds it for 4 s.
	if !eventually(10*time.Second, func() bool { return batchGets(emu) > reads }) {
		t.Fatal("the manual reconcile did not read the sheet")
	}
	c := sheet.candidates[9]
	expireNow(t, rds, "spool_lock:"+c.tag)
	if !eventually(20*time.Second, func() bool { return rds.MustDo("PTTL", "spool_lock:"+c.tag) == "-1" }) {
		t.Fatalf("lock lost during a long reconcile was not restored by a follow-up")
	}
}

// TestQuickRestartsReadOnce: eight quick restarts of the worker cost at most one boot
// reconcile's worth of sheet reads (two, if the restarts straddle a minute boundary).
func TestQuickRestartsReadOnce(t *testing.T) {
	sheet := buildSheet(t, 100, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	env := eventsEnv(rds, emu, map[string]string{"KEYSPACE_EVENTS": "off"})
	for time.Now().Second() > 35 {
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	for i := range 8 {
		w := startWorker(t, env)
		if i == 0 && !eventually(20*time.Second, func() bool { return countLocks(rds) == len(sheet.candidates) }) {
			t.Fatalf("first boot reconcile did not finish")
		}
		w.Signal(syscall.SIGTERM)
		if code := w.Wait(8 * time.Second); code != 0 {
			t.Fatalf("restart %d: exit %d", i, code)
		}
	}
	// Every worker has exited: no read can come after this point.
	allowed := 1
	if time.Now().Minute() != start.Minute() {
		allowed = 2
	}
	if got := batchGets(emu); got > allowed {
		t.Fatalf("8 quick restarts made %d sheet reads, want at most %d", got, allowed)
	}
}

// TestTwoReplicasOneReadPerTick: two workers on one Redis with a one-second schedule: one
// reconcile per tick, not two.
func TestTwoReplicasOneReadPerTick(t *testing.T) {
	sheet := buildSheet(t, 100, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	env := eventsEnv(rds, emu, map[string]string{"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s",
		"SHEETS_MAX_READS_PER_MINUTE": "1000"})
	a, b := startWorker(t, env), startWorker(t, env)
	scheduled := func() int {
		n := 0
		for _, w := range []*proc{a, b} {
			for _, rec := range logLines(w.Stderr.String(), "reconcile finished") {
				if rec["trigger"] == jobs.TriggerSchedule {
					n++
				}
			}
		}
		return n
	}
	// Both running and the schedule under way: a scheduled run has finished.
	if !eventually(20*time.Second, func() bool { return scheduled() >= 1 }) {
		t.Fatalf("no scheduled reconcile ran:\n%s", tail(a.Stderr.String(), 20))
	}
	before, runs, start := batchGets(emu), scheduled(), time.Now()
	// Six more scheduled runs, however long the machine takes for them: with one run per
	// tick that spans at least five ticks; with a run per replica per tick, half as many.
	if !eventually(60*time.Second, func() bool { return scheduled() >= runs+6 }) {
		t.Fatalf("the schedule stopped: %d scheduled runs", scheduled()-runs)
	}
	reads := batchGets(emu) - before
	ticks := int(time.Since(start)/time.Second) + 2 // the ticks the span touched, both ends
	if reads > ticks {
		t.Fatalf("two replicas with @every 1s made %d sheet reads in %d ticks, want one per tick", reads, ticks)
	}
}

// clearRow returns a copy of grid with the holder and date of tag's row emptied.
func clearRow(grid [][]any, tag string) [][]any {
	out := make([][]any, len(grid))
	header := grid[0]
	var tagCol, holderCol, dateCol int
	for i, h := range header {
		switch h {
		case sheetsemu.ColTag:
			tagCol = i
		case sheetsemu.ColHolder:
			holderCol = i
		case sheetsemu.ColDate:
			dateCol = i
		}
	}
	for i, row := range grid {
		out[i] = append([]any(nil), row...)
		if i > 0 && len(row) > tagCol && row[tagCol] == tag {
			if len(out[i]) > holderCol {
				out[i][holderCol] = ""
			}
			if len(out[i]) > dateCol {
				out[i][dateCol] = ""
			}
		}
	}
	return out
}

// summary condenses a worker's log for a failure message: reconcile reports, restore outcomes
// other than restored, warnings and errors.
func summary(log string) string {
	var b strings.Builder
	outcomes := map[string]int{}
	for _, rec := range logLines(log, "restore") {
		outcomes[fmt.Sprint(rec["outcome"])]++
	}
	fmt.Fprintf(&b, "restore outcomes: %v; lock lost events: %d\n", outcomes, len(logLines(log, "lock lost")))
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"msg":"reconcile finished"`) || strings.Contains(line, `"level":"WARN"`) ||
			strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "coalesced") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
