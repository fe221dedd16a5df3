package tests

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
func expireNow(rds *redisserver.Server, key string) {
	rds.MustDo("PEXPIRE", key, "30")
	time.Sleep(40 * time.Millisecond)
	rds.MustDo("EXISTS", key) // touch it: Redis expires a key lazily when it is read
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

	before, beforeAt := batchGets(emu), time.Now()
	for _, c := range sheet.candidates[:1000] {
		rds.MustDo("PEXPIRE", "spool_lock:"+c.tag, "1")
	}
	// Redis deletes an expired key (and only then publishes "expired") when it is touched or
	// when its sampling expiry cycle finds it, which with thousands of asynq keys holding TTLs
	// can take a while. A SCAN touches every key, as the backend's own reads would.
	time.Sleep(50 * time.Millisecond)
	rds.MustDo("SCAN", "0", "MATCH", "spool_lock:*", "COUNT", "100000")
	if !eventually(30*time.Second, func() bool { return countLocks(rds) == len(sheet.candidates) }) {
		var gone []string
		for _, c := range sheet.candidates {
			if ttl := rds.MustDo("PTTL", "spool_lock:"+c.tag); ttl != "-1" {
				gone = append(gone, c.tag+" "+ttl)
			}
		}
		t.Fatalf("after 1,000 expirations: %d locks, want %d; missing: %v\n%s", countLocks(rds), len(sheet.candidates), gone, summary(w.Stderr.String()))
	}
	time.Sleep(3 * time.Second) // let any straggling aggregated reconcile run before counting
	// Every restore is verified RELEASE_SETTLE + 1 s later by a look of its own, coalesced
	// too: those reads are counted apart (the boot's restores' looks land in this window too).
	verifies := runsFinishedAfter(w.Stderr.String(), "verify", beforeAt)
	if reads := batchGets(emu) - before - verifies; reads > 6 || verifies > 6 {
		t.Fatalf("1,000 expirations cost %d sheet reads and %d verifying looks, want a handful of each (≤ 6)", reads, verifies)
	}
}

// TestReleaseRaceNeverResurrects: the backend's FINALIZAR deletes the lock, then clears the
// row, while the sheet keeps serving the old row for a few seconds. Reconciles every second
// read that stale row; the tombstone must keep the lock from coming back.
func TestReleaseRaceNeverResurrects(t *testing.T) {
	rds, emu, sheet, _ := startInSync(t, 200, map[string]string{
		"RECONCILE_SCHEDULE": "@every 1s", "RELEASE_SETTLE": "6s",
	})
	released := sheet.candidates[3]
	key := "spool_lock:" + released.tag

	emu.ServeStaleFor(4 * time.Second)
	rds.MustDo("DEL", key) // FINALIZAR: the lock first…
	cleared := clearRow(sheet.grid, released.tag)
	emu.SetSheet("Operaciones", cleared) // …then the sheet, which stays stale for 4 s

	deadline := time.Now().Add(9 * time.Second)
	for time.Now().Before(deadline) {
		if rds.MustDo("EXISTS", key) == "1" {
			t.Fatalf("released lock %s was resurrected: %s", released.tag, rds.MustDo("GET", key))
		}
		time.Sleep(25 * time.Millisecond)
	}
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
	expireNow(rds, key)
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
	if _, errOut, code := cli(t, env, "enqueue"); code != 0 {
		t.Fatalf("enqueue: %d %s", code, errOut)
	}
	time.Sleep(500 * time.Millisecond) // the manual reconcile is now waiting on the slow sheet
	c := sheet.candidates[9]
	expireNow(rds, "spool_lock:"+c.tag)
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
	time.Sleep(2 * time.Second)
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
	startWorker(t, env)
	startWorker(t, env)
	time.Sleep(3 * time.Second) // both running, boot done
	before := batchGets(emu)
	time.Sleep(6 * time.Second)
	if got := batchGets(emu) - before; got < 4 || got > 7 {
		t.Fatalf("two replicas with @every 1s made %d sheet reads in 6 s, want one per tick (about 6)", got)
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
