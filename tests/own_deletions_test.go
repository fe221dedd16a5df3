package tests

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// backendValue is a lock value as the backend writes it, for worker id at at.
func backendValue(id int, at time.Time) string {
	return fmt.Sprintf("%d:%s:%s", id, uuid.NewString(), at.In(santiago).Format("02-01-2006 15:04:05"))
}

// sheetDate is at as the backend writes Fecha_Ocupacion.
func sheetDate(at time.Time) string { return at.In(santiago).Format("02-01-2006 15:04:05") }

// holds says whether tag's lock is worker id's occupation at date, persistent.
func holds(rds *redisserver.Server, tag string, id int, date string) bool {
	v, err := rds.Do("GET", "spool_lock:"+tag)
	if err != nil || !strings.HasPrefix(v, fmt.Sprintf("%d:", id)) || !strings.HasSuffix(v, ":"+date) {
		return false
	}
	ttl, err := rds.Do("PTTL", "spool_lock:"+tag)
	return err == nil && ttl == "-1"
}

// tagRestoreOutcomes counts the restore log lines of tag by outcome.
func tagRestoreOutcomes(stderr, tag string) map[string]int {
	out := map[string]int{}
	for _, r := range logLines(stderr, "restore") {
		if r["tag"] == tag {
			out[fmt.Sprint(r["outcome"])]++
		}
	}
	return out
}

// TestOrphanReleaseRacingIniciar: the backend's INICIAR races the worker's orphan release: its
// SET NX fails on the orphan, its GET finds the key gone, it goes degraded (row written, no
// lock). The worker's own deletion left no tombstone (keyspace notifications on), so the new
// occupation's lock is back within seconds (the look after the release), not after
// RELEASE_SETTLE.
func TestOrphanReleaseRacingIniciar(t *testing.T) {
	const settle = 40 * time.Second
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	header := sheets.OperacionesHeader()
	grid := sheetsemu.Grid(header, sheetsemu.Spool("RACE", "", ""), sheetsemu.Spool("OTHER", "", ""))
	emu.SetSheet("Operaciones", grid)
	orphan := backendValue(93, time.Now().Add(-2*time.Hour))
	rds.MustDo("SET", "spool_lock:RACE", orphan)
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "configure", "RECONCILE_SCHEDULE": "off", "ORPHAN_GRACE": "2s",
		"RELEASE_SETTLE": settle.String(), "SHEETS_MAX_READS_PER_MINUTE": "600",
	})
	if !eventually(10*time.Second, func() bool {
		flags, _ := rds.Do("CONFIG", "GET", "notify-keyspace-events")
		return strings.Contains(flags, "g")
	}) {
		t.Fatal("KEYSPACE_EVENTS=configure did not turn del notifications on")
	}

	// INICIAR: SET NX fails on the orphan ...
	if got, _ := rds.Do("SET", "spool_lock:RACE", backendValue(95, time.Now()), "NX", "EX", "10"); got == "OK" {
		t.Fatal("the backend's SET NX succeeded: the orphan was not there")
	}
	// ... and by its GET the worker has released it.
	if !eventually(20*time.Second, func() bool { v, _ := rds.Do("GET", "spool_lock:RACE"); return v == "" }) {
		t.Fatalf("the orphan was never released\n%s", summary(w.Stderr.String()))
	}
	released := time.Now()
	// "Lock state changed during acquisition": degraded, the row only.
	date := sheetDate(time.Now())
	col := columnOf(header)
	grid[1] = setHolder(grid[1], col, "SB(95)", date)
	emu.SetSheet("Operaciones", grid)

	if !eventually(20*time.Second, func() bool { return holds(rds, "RACE", 95, date) }) {
		t.Fatalf("the new occupation has no lock 20 s after the release\n%s", summary(w.Stderr.String()))
	}
	took := time.Since(released)
	t.Logf("the new occupation's lock is back %v after the orphan release", took.Round(100*time.Millisecond))
	if took >= settle {
		t.Errorf("took %v: as long as RELEASE_SETTLE", took)
	}
	if n, _ := rds.Do("EXISTS", "reconciler:released:RACE"); n != "0" {
		t.Error("the worker's own release left a tombstone")
	}
	if out := tagRestoreOutcomes(w.Stderr.String(), "RACE"); out["recently_released"] != 0 || out["restored"] != 1 {
		t.Errorf("restore outcomes %v, want one restored and no recently_released", out)
	}
	if n, _ := rds.Do("EXISTS", "reconciler:deleting:RACE"); n != "0" {
		t.Error("the deleting key outlived the release")
	}
}

// TestDegradedRetakeBesideLeftoverOrphan: worker 93's orphan was left; worker 95 took the
// spool in degraded mode (row SB(95), no lock written). The lock is judged like an orphan of
// its value: left alone through the grace, then released and the row's own lock restored.
func TestDegradedRetakeBesideLeftoverOrphan(t *testing.T) {
	const grace = 3 * time.Second
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	date := sheetDate(time.Now().Add(-time.Minute))
	emu.SetSheet("Operaciones", sheetsemu.Grid(sheets.OperacionesHeader(), sheetsemu.Spool("RETAKE", "SB(95)", date)))
	leftover := backendValue(93, time.Now().Add(-3*time.Hour))
	rds.MustDo("SET", "spool_lock:RETAKE", leftover)
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "off", "ORPHAN_GRACE": grace.String(),
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	}
	w := startWorker(t, env)
	if !strings.Contains(w.Stderr.String(), "under a minute") {
		t.Error("no warning that ORPHAN_GRACE is under a minute")
	}
	var firstSeen time.Time
	if !eventually(15*time.Second, func() bool { firstSeen = sighting(rds, "RETAKE"); return !firstSeen.IsZero() }) {
		t.Fatalf("no sighting of the contradicted lock\n%s", summary(w.Stderr.String()))
	}
	// plan lists it with the row's holder, not yet drift beyond the holder mismatch.
	out, _, _ := cli(t, env, "plan")
	if !strings.Contains(out, "orphan: RETAKE") || !strings.Contains(out, "the row shows SB(95)") {
		t.Errorf("plan does not list the contradicted lock:\n%s", out)
	}

	if !eventually(grace+15*time.Second, func() bool { return holds(rds, "RETAKE", 95, date) }) {
		v, _ := rds.Do("GET", "spool_lock:RETAKE")
		t.Fatalf("lock %q: the row's own occupation was never restored\n%s", v, summary(w.Stderr.String()))
	}
	restored := time.Now()
	lines := logLines(w.Stderr.String(), "orphan lock released: its row has shown another worker's occupation for ORPHAN_GRACE")
	if len(lines) != 1 || lines[0]["value"] != leftover || lines[0]["row_holder"] != "SB(95)" {
		t.Fatalf("release lines %v", lines)
	}
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(lines[0]["time"]))
	if err != nil || at.Before(firstSeen.Add(grace)) {
		t.Errorf("released at %v, before first seen %v + grace", lines[0]["time"], firstSeen)
	}
	// The row's lock follows the release within seconds (a look at once), not at the next
	// look after the release (LookAfterRelease) or the schedule.
	t.Logf("the row's own lock was restored %v after the release", restored.Sub(at).Round(100*time.Millisecond))
	if d := restored.Sub(at); d > 5*time.Second {
		t.Errorf("the row's own lock came %v after the release", d)
	}
	if !sighting(rds, "RETAKE").IsZero() {
		t.Error("the released value's sighting outlived it")
	}
	// In sync now.
	if _, stderr, code := cli(t, env, "plan"); code != 0 {
		t.Errorf("plan exit %d after the re-take was locked: %s", code, stderr)
	}
}

// TestRetractionForAnotherOccupationSwaps: the worker restored worker 93's lock; the verifying
// look finds the row showing another occupation (95). The restored value is replaced by 95's
// lock in one step: a client polling the key all along never finds it empty.
func TestRetractionForAnotherOccupationSwaps(t *testing.T) {
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	header := sheets.OperacionesHeader()
	first := sheetDate(time.Now().Add(-5 * time.Minute))
	grid := sheetsemu.Grid(header, sheetsemu.Spool("SWAP", "MR(93)", first))
	emu.SetSheet("Operaciones", grid)
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "configure", "RECONCILE_SCHEDULE": "off", "RELEASE_SETTLE": "4s",
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	})
	if !eventually(15*time.Second, func() bool { return holds(rds, "SWAP", 93, first) }) {
		t.Fatalf("the boot reconcile did not restore the lock\n%s", summary(w.Stderr.String()))
	}
	// Poll the key from now on, on one connection.
	conn, err := net.Dial("tcp", rds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var polls, empty atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(conn)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := conn.Write([]byte("*2\r\n$3\r\nGET\r\n$15\r\nspool_lock:SWAP\r\n")); err != nil {
				t.Error(err)
				return
			}
			line, err := r.ReadString('\n')
			if err != nil {
				t.Error(err)
				return
			}
			polls.Add(1)
			if strings.HasPrefix(line, "$-1") {
				empty.Add(1)
				continue
			}
			if _, err := r.ReadString('\n'); err != nil { // the value
				t.Error(err)
				return
			}
		}
	}()
	// The sheet now shows another occupation (before the verifying look, RELEASE_SETTLE + 1 s
	// after the restore).
	second := sheetDate(time.Now())
	grid[1] = setHolder(grid[1], columnOf(header), "SB(95)", second)
	emu.SetSheet("Operaciones", grid)
	ok := eventually(20*time.Second, func() bool { return holds(rds, "SWAP", 95, second) })
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if !ok {
		t.Fatalf("the restored lock was not replaced by the row's occupation\n%s", summary(w.Stderr.String()))
	}
	t.Logf("%d reads of the key during the swap, %d empty", polls.Load(), empty.Load())
	if empty.Load() != 0 {
		t.Errorf("the key was empty %d times of %d reads", empty.Load(), polls.Load())
	}
	if got := settledReportSum(w, "replaced", 1); got != 1 {
		t.Errorf("replaced %d, want 1", got)
	}
	if got := reportSum(w.Stderr.String(), "retracted"); got != 0 {
		t.Errorf("retracted %d, want 0 (a swap is not a deletion)", got)
	}
	if n := len(logLines(w.Stderr.String(), "restored lock replaced: a fresh snapshot shows another occupation")); n != 1 {
		t.Errorf("%d replacement log lines, want 1", n)
	}
	// The new lock is verified in turn: its marker goes, the lock stays.
	if !eventually(15*time.Second, func() bool { n, _ := rds.Do("HEXISTS", "reconciler:restored", "SWAP"); return n == "0" }) {
		t.Error("the replacing lock's restore marker was never verified")
	}
	if !holds(rds, "SWAP", 95, second) {
		t.Error("the replacing lock did not survive its verification")
	}
}

// TestNearDuplicateKeepsLock: row 5 "MK-1 " (free) and row 9 "MK-1" (taken) are one tag once
// trimmed. The live lock of row 9 is backed and stays through three times the grace.
func TestNearDuplicateKeepsLock(t *testing.T) {
	const grace = 2 * time.Second
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	date := sheetDate(time.Now().Add(-time.Minute))
	rows := []map[string]any{
		sheetsemu.Spool("A-1", "", ""), sheetsemu.Spool("A-2", "", ""), sheetsemu.Spool("A-3", "", ""),
		sheetsemu.Spool("MK-1 ", "", ""), // row 5
		sheetsemu.Spool("A-4", "", ""), sheetsemu.Spool("A-5", "", ""), sheetsemu.Spool("A-6", "", ""),
		sheetsemu.Spool("MK-1", "MR(93)", date), // row 9
	}
	emu.SetSheet("Operaciones", sheetsemu.Grid(sheets.OperacionesHeader(), rows...))
	live := backendValue(93, time.Now().Add(-time.Minute))
	rds.MustDo("SET", "spool_lock:MK-1", live)
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s", "ORPHAN_GRACE": grace.String(),
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	})
	started := time.Now()
	if !eventually(30*time.Second, func() bool {
		return runsFinishedAfter(w.Stderr.String(), "schedule", started.Add(3*grace)) >= 2
	}) {
		t.Fatal("no full reconcile ran after three times the grace")
	}
	if got := rds.MustDo("GET", "spool_lock:MK-1"); got != live {
		t.Fatalf("the live lock of row 9 is %q, want %q", got, live)
	}
	if !sighting(rds, "MK-1").IsZero() {
		t.Error("the backed lock was recorded as an orphan")
	}
	if n := reportSum(w.Stderr.String(), "orphan_locks") + reportSum(w.Stderr.String(), "orphans_released"); n != 0 {
		t.Errorf("orphan_locks + orphans_released = %d over all runs, want 0", n)
	}
	if reportSum(w.Stderr.String(), "duplicate_tag") == 0 {
		t.Error("the near-duplicate row was not reported")
	}
}

// TestStalledRedisSetNXEX: while Redis is stopped (SIGSTOP) the backend's INICIAR sends
// `SET NX EX 10` for 10 spools; its client gives up and it goes degraded (rows written, no
// lock). Redis runs the SETs when it wakes: 10 locks with a 10 s TTL whose PERSIST never comes.
// With notifications and the schedule off, the worker leaves them alone (never PERSISTs them)
// and looks again when their TTL ends: all 10 then hold a persistent lock of the row's holder
// within a few seconds of the TTL's end.
func TestStalledRedisSetNXEX(t *testing.T) {
	const spools = 10
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	header := sheets.OperacionesHeader()
	tag := func(i int) string { return fmt.Sprintf("STALL-%02d", i) }
	rows := make([]map[string]any, spools)
	for i := range rows {
		rows[i] = sheetsemu.Spool(tag(i), "", "")
	}
	grid := sheetsemu.Grid(header, rows...)
	emu.SetSheet("Operaciones", grid)
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "off", "SHEETS_MAX_READS_PER_MINUTE": "600",
	})
	if !eventually(15*time.Second, func() bool { return runsFinishedAfter(w.Stderr.String(), "boot", time.Time{}) > 0 }) {
		t.Fatal("no boot reconcile")
	}
	conn, err := net.Dial("tcp", rds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	rds.Stop()
	stopped := time.Now()
	col := columnOf(header)
	dates := make([]string, spools)
	for i := range spools {
		at := time.Now()
		dates[i] = sheetDate(at)
		value := backendValue(100+i, at)
		cmd := fmt.Sprintf("*6\r\n$3\r\nSET\r\n$%d\r\nspool_lock:%s\r\n$%d\r\n%s\r\n$2\r\nNX\r\n$2\r\nEX\r\n$2\r\n10\r\n",
			len("spool_lock:"+tag(i)), tag(i), len(value), value)
		if _, err := conn.Write([]byte(cmd)); err != nil { // queued: Redis is stopped
			t.Fatal(err)
		}
		// The backend's client times out: degraded, the row only.
		grid[i+1] = setHolder(grid[i+1], col, fmt.Sprintf("SB(%d)", 100+i), dates[i])
		emu.SetSheet("Operaciones", grid)
	}
	time.Sleep(time.Until(stopped.Add(6 * time.Second))) // long enough for the worker to notice
	rds.Continue()
	woke := time.Now()
	r := bufio.NewReader(conn)
	for i := range spools {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
			t.Fatalf("SET %d answered %q, %v", i, line, err)
		}
	}
	ttlEnd := woke.Add(10 * time.Second)

	// Until the TTL ends, the worker leaves them as they are: the backend's value, with its TTL.
	time.Sleep(time.Until(ttlEnd.Add(-2 * time.Second)))
	for i := range spools {
		ttl, _ := rds.Do("PTTL", "spool_lock:"+tag(i))
		if ttl == "-1" {
			t.Errorf("%s was made persistent before its TTL ended", tag(i))
		}
	}
	if got := reportSum(w.Stderr.String(), "expiring_locks", "redis-back"); got < spools {
		t.Errorf("expiring_locks %d in redis-back runs, want %d\n%s", got, spools, summary(w.Stderr.String()))
	}
	if n := len(logLines(w.Stderr.String(), "lock with a TTL on a taken spool: left alone, looked at again when the TTL ends")); n < spools {
		t.Errorf("%d log lines about locks with a TTL, want %d", n, spools)
	}

	all := func() int {
		n := 0
		for i := range spools {
			if holds(rds, tag(i), 100+i, dates[i]) {
				n++
			}
		}
		return n
	}
	ok := eventually(time.Until(ttlEnd.Add(5*time.Second)), func() bool { return all() == spools })
	t.Logf("%d of %d persistent locks of the row's holder %v after the TTL's end", all(), spools, time.Since(ttlEnd).Round(100*time.Millisecond))
	if !ok {
		t.Fatalf("%d of %d spools hold a persistent lock of the row's holder 5 s after the TTL's end\n%s",
			all(), spools, summary(w.Stderr.String()))
	}
	if runsFinishedAfter(w.Stderr.String(), "ttl-end", time.Time{}) == 0 {
		t.Error("no ttl-end look ran")
	}
}
