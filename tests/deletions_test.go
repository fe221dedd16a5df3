package tests

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// reportSum adds field up over the worker's "reconcile finished" log lines whose trigger is
// one of triggers (any trigger when none is given).
func reportSum(stderr, field string, triggers ...string) int {
	n := 0
	for _, r := range logLines(stderr, "reconcile finished") {
		if len(triggers) > 0 && !containsString(triggers, fmt.Sprint(r["trigger"])) {
			continue
		}
		if v, ok := r[field].(float64); ok {
			n += int(v)
		}
	}
	return n
}

// settledReportSum is reportSum once it reaches want or 5 s have passed: a run changes Redis
// before it logs its report, so a test that saw the change may otherwise read too early.
func settledReportSum(w *proc, field string, want int, triggers ...string) int {
	eventually(5*time.Second, func() bool { return reportSum(w.Stderr.String(), field, triggers...) >= want })
	return reportSum(w.Stderr.String(), field, triggers...)
}

// settledLogAndReport counts the lines logging msg and the reports' sum of field, once they
// agree or 5 s have passed: a run logs each deletion before its report.
func settledLogAndReport(w *proc, msg, field string) (lines, reported int) {
	count := func() {
		lines = len(logLines(w.Stderr.String(), msg))
		reported = reportSum(w.Stderr.String(), field)
	}
	eventually(5*time.Second, func() bool { count(); return lines == reported })
	count()
	return lines, reported
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runsFinishedAfter counts the reconciles of trigger that finished after at.
func runsFinishedAfter(stderr, trigger string, at time.Time) int {
	n := 0
	for _, r := range logLines(stderr, "reconcile finished") {
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["time"]))
		if err == nil && r["trigger"] == trigger && ts.After(at) {
			n++
		}
	}
	return n
}

// disagreements compares the first n spools' keys with what the backend holds: a spool it
// released has no key, a spool it holds has exactly the value it wrote.
func (b *simBackend) disagreements(t *testing.T, n int) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for i := range n {
		tag := fmt.Sprintf("SIM-%04d", i)
		got, err := b.rds.Do("GET", "spool_lock:"+tag)
		if err != nil {
			t.Fatal(err)
		}
		want, held := b.held[tag]
		switch {
		case !held && got != "":
			out = append(out, fmt.Sprintf("released spool %s has a lock %q", tag, got))
		case held && got != want:
			out = append(out, fmt.Sprintf("live lock of %s is %q, the backend wrote %q", tag, got, want))
		}
	}
	return out
}

// sighting reads the stored first sighting of tag's orphan (zero when there is none).
func sighting(rds *redisserver.Server, tag string) time.Time {
	raw, _ := rds.Do("HGET", "reconciler:orphans", tag)
	ms, _, ok := strings.Cut(raw, "|")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// TestSeedEraReleaseFreesSpools runs the backend as it is (its release never deletes the lock,
// and clears the row) on a stock Redis (no keyspace notifications) with a lagging sheet: with a
// short ORPHAN_GRACE every released spool is free again (no key) within the grace and a few
// seconds, and a lock written before its row (an INICIAR in progress) is never touched.
func TestSeedEraReleaseFreesSpools(t *testing.T) {
	const spools, workers = 80, 4
	const grace, lag = 5 * time.Second, time.Second
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	// One row more than the simulated workers use: the slow INICIAR below.
	b := newSimBackendWith(t, rds, emu, spools+1, simOptions{lag: lag, seedRelease: true, pause: 200 * time.Millisecond})
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s", "RELEASE_SETTLE": "2s",
		"ORPHAN_GRACE": grace.String(), "SHEETS_MAX_READS_PER_MINUTE": "600",
		"ORPHAN_CLEANUP": "true", // a leftover: warned about, not an error
	})
	if !strings.Contains(w.Stderr.String(), "ORPHAN_GRACE replaced it") {
		t.Error("no warning that ORPHAN_CLEANUP is no longer read")
	}

	// A slow INICIAR: the lock now, the row only once the worker has seen the lock unbacked.
	slowTag := fmt.Sprintf("SIM-%04d", spools)
	now := time.Now().In(santiago)
	slowValue := fmt.Sprintf("99:%s:%s", uuid.NewString(), now.Format("02-01-2006 15:04:05"))
	rds.MustDo("SET", "spool_lock:"+slowTag, slowValue)
	var firstSeen time.Time
	if !eventually(20*time.Second, func() bool { firstSeen = sighting(rds, slowTag); return !firstSeen.IsZero() }) {
		t.Fatal("the worker never recorded the slow INICIAR's lock as unbacked")
	}
	b.mu.Lock()
	b.held[slowTag] = slowValue
	b.mu.Unlock()
	b.writeRow(spools+1, "SB(99)", now.Format("02-01-2006 15:04:05"))

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { b.run(t, workers, spools, stop); close(done) }()
	if !eventually(60*time.Second, func() bool {
		return b.ops.Load() >= 300 && reportSum(w.Stderr.String(), "orphans_released") >= 20
	}) {
		t.Errorf("after %d backend operations only %d orphans were released", b.ops.Load(), reportSum(w.Stderr.String(), "orphans_released"))
	}
	close(stop)
	<-done
	stopped := time.Now()

	// Every spool the backend released is free again within the grace and a few seconds: the
	// row's clearing reaches the sheet (lag), a run sees it, the grace passes, a look comes.
	if !eventually(grace+lag+10*time.Second, func() bool { return len(b.disagreements(t, spools+1)) == 0 }) {
		for _, d := range b.disagreements(t, spools+1) {
			t.Error(d)
		}
	}
	t.Logf("converged %v after the backend stopped", time.Since(stopped).Round(100*time.Millisecond))

	// The slow INICIAR's lock was judged after its first sighting + grace (two full runs
	// finished after that instant: the second one's snapshot was read after it) and survived.
	due := firstSeen.Add(grace)
	if !eventually(20*time.Second, func() bool { return runsFinishedAfter(w.Stderr.String(), "schedule", due) >= 2 }) {
		t.Fatal("no full reconcile ran after the slow lock's grace")
	}
	if got := rds.MustDo("GET", "spool_lock:"+slowTag); got != slowValue {
		t.Errorf("the lock written before its row is %q, want %q", got, slowValue)
	}
	if !sighting(rds, slowTag).IsZero() {
		t.Error("the slow lock's sighting was not forgotten once its row backed it")
	}
	if n, reported := settledLogAndReport(w, "orphan lock released: its row has been free or absent for ORPHAN_GRACE", "orphans_released"); n != reported {
		t.Errorf("%d release log lines, reports say %d", n, reported)
	}
	if runsFinishedAfter(w.Stderr.String(), "orphan", time.Time{}) == 0 {
		t.Error("the worker never asked for its own look at an orphan (trigger orphan)")
	}
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 0 {
		t.Errorf("a backend releasing spools one by one made the sheet suspect (%d WARNs)", n)
	}
	t.Logf("backend ops %d, blocked INICIARs %d, orphans released %d", b.ops.Load(), b.blocked.Load(),
		reportSum(w.Stderr.String(), "orphans_released"))
}

// TestMisreadSheetReleasesNothing: a few released spools are released, but a sheet that
// suddenly shows every holder blank (a misread: the backend still holds every spool) is suspect
// and releases none, in full runs and targeted looks alike.
func TestMisreadSheetReleasesNothing(t *testing.T) {
	const spools = 20
	rds, emu, b, _ := heldSheet(t, spools, everyRow)
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s", "ORPHAN_GRACE": "2s",
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	}
	w := startWorker(t, env)

	// A handful released by the backend: released by the worker.
	for row := 1; row <= 3; row++ {
		if err := b.finalizar(row); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(30*time.Second, func() bool { return countLocks(rds) == spools-3 }) {
		t.Fatalf("%d locks, want %d: the three released spools were not freed", countLocks(rds), spools-3)
	}

	// Every holder blank at once, while the backend holds 17 spools.
	emu.SetSheet("Operaciones", b.blankHolders())
	suspectLogged(t, w)
	held := time.Now()
	if !eventually(20*time.Second, func() bool { return runsFinishedAfter(w.Stderr.String(), "schedule", held) >= 4 }) {
		t.Fatal("no full reconcile ran after the sheet turned suspect")
	}
	if n := countLocks(rds); n != spools-3 {
		t.Errorf("%d locks left, want %d: a suspect sheet deleted", n, spools-3)
	}
	if got := settledReportSum(w, "orphans_released", 3); got != 3 {
		t.Errorf("orphans_released %d over all runs, want 3", got)
	}
	if d := b.disagreements(t, spools); len(d) > 0 {
		t.Errorf("disagreements with the backend: %v", d)
	}
}

// TestPlanListsOrphans: plan lists every orphan with how long it has been unbacked (from the
// sightings a worker stored) and counts those past the grace as drift.
func TestPlanListsOrphans(t *testing.T) {
	const spools = 20
	rds, emu, b, _ := heldSheet(t, spools, everyRow)
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s", "ORPHAN_GRACE": "1h",
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	}
	startWorker(t, env)
	// Four released by the backend: a gradual change, recorded as orphans by the worker, which
	// (with its hour of grace) keeps them.
	for row := 1; row <= 4; row++ {
		if err := b.finalizar(row); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(20*time.Second, func() bool { return !sighting(rds, "SIM-0003").IsZero() }) {
		t.Fatal("the worker never recorded the orphans")
	}
	time.Sleep(2 * time.Second)

	// plan with a 2 s grace: every orphan listed, past the grace, drift.
	env["ORPHAN_GRACE"] = "2s"
	out, stderr, code := cli(t, env, "plan", "--json")
	if code != 3 {
		t.Fatalf("plan exit %d, want 3 (drift); stderr %s", code, stderr)
	}
	var plan struct {
		Report struct {
			OrphanLocks      int `json:"orphan_locks"`
			OrphansPastGrace int `json:"orphans_past_grace"`
		} `json:"report"`
		Drift        bool `json:"drift"`
		SheetSuspect bool `json:"sheet_suspect"`
		Orphans      []struct {
			Tag             string `json:"tag"`
			UnbackedSeconds int64  `json:"unbacked_seconds"`
			PastGrace       bool   `json:"past_grace"`
		} `json:"orphans"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	if !plan.Drift || plan.SheetSuspect || plan.Report.OrphanLocks != 4 || plan.Report.OrphansPastGrace != 4 || len(plan.Orphans) != 4 {
		t.Fatalf("plan %+v", plan)
	}
	for _, o := range plan.Orphans {
		if !o.PastGrace || o.UnbackedSeconds < 2 {
			t.Errorf("orphan %+v: want past the grace, unbacked at least 2 s", o)
		}
	}
	text, _, code := cli(t, env, "plan")
	if code != 3 || !strings.Contains(text, "orphan: SIM-0003  ") || !strings.Contains(text, "past ORPHAN_GRACE 2s") ||
		!strings.Contains(text, "4 orphans past ORPHAN_GRACE") || !strings.Contains(text, "workers: sheet trusted") {
		t.Errorf("plan (exit %d) does not list the orphans past the grace as drift:\n%s", code, text)
	}
}

// TestVerifyRetractsResurrections runs a backend whose release deletes (compare-and-delete)
// on a Redis without keyspace notifications (no tombstones) with a lagging sheet and a short
// schedule: reconciles resurrect released locks from stale rows, and the verifying look takes
// them back. At the end no free row has a lock, no held spool lost its lock, none was
// overwritten, and the resurrections taken back were counted as retracted.
func TestVerifyRetractsResurrections(t *testing.T) {
	// 400 spools for 4 simulated workers: the churn between two runs a second apart stays well
	// under half of the occupations, so the sheet is judged sane (section 11a of docs/design.md)
	// and the runs act; 100 spools at this pace turn over most occupations every second, which
	// is what a sorted column looks like.
	const spools, workers = 400, 4
	const lag = 1500 * time.Millisecond
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	b := newSimBackendWith(t, rds, emu, spools, simOptions{lag: lag})
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s", "RELEASE_SETTLE": "2s",
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { b.run(t, workers, spools, stop); close(done) }()
	// Resurrections happen (the lag outlasts the schedule) and are taken back.
	if !eventually(60*time.Second, func() bool {
		return b.ops.Load() >= 500 && reportSum(w.Stderr.String(), "retracted") >= 5
	}) {
		t.Errorf("after %d backend operations only %d locks were retracted", b.ops.Load(), reportSum(w.Stderr.String(), "retracted"))
	}
	close(stop)
	<-done
	if !eventually(lag+15*time.Second, func() bool { return len(b.disagreements(t, spools)) == 0 }) {
		for _, d := range b.disagreements(t, spools) {
			t.Error(d)
		}
	}
	lines, retracted := settledLogAndReport(w, "restored lock retracted: a fresh snapshot no longer backs it", "retracted")
	if lines != retracted {
		t.Errorf("%d retraction log lines, reports say %d", lines, retracted)
	}
	// The restores' verifying looks come RELEASE_SETTLE + 1 s after them, then wait for their
	// group's grace: on a busy machine that can be after the checks above.
	if !eventually(20*time.Second, func() bool { return runsFinishedAfter(w.Stderr.String(), "verify", time.Time{}) > 0 }) {
		t.Error("no verify reconcile ran")
	}
	outcomes := map[string]int{}
	for _, r := range logLines(w.Stderr.String(), "restore") {
		outcomes[fmt.Sprint(r["outcome"])]++
	}
	t.Logf("backend ops %d, blocked INICIARs %d, restore outcomes %v, retracted %d, sheet reads %d",
		b.ops.Load(), b.blocked.Load(), outcomes, retracted, batchGets(emu))
}
