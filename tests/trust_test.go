package tests

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// Trusting a snapshot (docs/design.md): every run judges its snapshot as a whole against the
// last accepted one, and a suspect snapshot writes nothing.

const trustGrace = 3 * time.Second

func trustEnv(rds *redisserver.Server, emu *sheetsemu.Emulator) map[string]string {
	return map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "@every 1s", "ORPHAN_GRACE": trustGrace.String(),
		"RELEASE_SETTLE": "2s", "SHEETS_MAX_READS_PER_MINUTE": "600",
	}
}

// holdRows takes the spools of the given grid rows through the simulated backend (lock, then
// row), each by its own worker id (heldBy), spread so that sorting the holders reorders them.
func holdRows(t *testing.T, b *simBackend, rows []int) {
	t.Helper()
	for _, row := range rows {
		if ok, err := b.iniciar(row, heldBy(row)); err != nil || !ok {
			t.Fatalf("iniciar row %d: %v, %v", row, ok, err)
		}
	}
}

// locksSettleTo waits for two scheduled runs after the sheet came back and checks that the
// locks are want and agree with the backend on every one of its spools.
func locksSettleTo(t *testing.T, w *proc, rds *redisserver.Server, b *simBackend, want map[string]string, spools int) {
	t.Helper()
	settled := time.Now()
	if !eventually(10*time.Second, func() bool { return runsFinishedAfter(w.Stderr.String(), "schedule", settled) >= 2 }) {
		t.Fatal("no run after the sheet came back")
	}
	if diff := sameLocks(want, lockSnapshot(t, rds)); len(diff) > 0 {
		t.Errorf("after the sheet came back: %v", diff)
	}
	if d := b.disagreements(t, spools); len(d) > 0 {
		t.Errorf("disagreements with the backend: %v", d)
	}
}

// heldBy is the worker id holdRows takes a row's spool with.
func heldBy(row int) int { return 100 + (row*37)%89 }

// heldSheet starts a Redis, a Sheets emulator and a simulated backend with `spools` rows, then
// takes through the backend (holdRows) the spools of the rows hold says; it returns those rows.
func heldSheet(t *testing.T, spools int, hold func(row int) bool) (*redisserver.Server, *sheetsemu.Emulator, *simBackend, []int) {
	t.Helper()
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	b := newSimBackendWith(t, rds, emu, spools, simOptions{seedRelease: true})
	var held []int
	for row := 1; row <= spools; row++ {
		if hold(row) {
			held = append(held, row)
		}
	}
	holdRows(t, b, held)
	return rds, emu, b, held
}

// everyRow holds every row; firstRows(n) the first n.
func everyRow(int) bool { return true }

func firstRows(n int) func(int) bool { return func(row int) bool { return row <= n } }

// notEveryFourth holds three rows of four (every fourth row stays free).
func notEveryFourth(row int) bool { return row%4 != 0 }

// putSheetBack shows the backend's own sheet again, after a test showed an edited one.
func (b *simBackend) putSheetBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.emu.SetSheet("Operaciones", b.grid)
}

// editedSheet is the backend's sheet with edit applied to a copy of every data row (the
// backend's own grid is left as it is: putting the sheet back is SetSheet of that grid).
func (b *simBackend) editedSheet(edit func(rows [][]any)) [][]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([][]any, len(b.grid))
	for i, r := range b.grid {
		out[i] = append([]any(nil), r...)
		for len(out[i]) <= max(b.holder, b.date) {
			out[i] = append(out[i], nil)
		}
	}
	edit(out[1:])
	return out
}

// sortHolders is Google Sheets sorting the Ocupado_Por column alone (A→Z, blanks last): the
// holders move to other rows, every other column stays.
func (b *simBackend) sortHolders() [][]any {
	return b.editedSheet(func(rows [][]any) {
		var holders []string
		for _, r := range rows {
			if h := fmt.Sprint(r[b.holder]); r[b.holder] != nil && h != "" {
				holders = append(holders, h)
			}
		}
		sort.Strings(holders)
		for i, r := range rows {
			r[b.holder] = ""
			if i < len(holders) {
				r[b.holder] = holders[i]
			}
		}
	})
}

// blankHolders is the Ocupado_Por column cleared at once.
func (b *simBackend) blankHolders() [][]any {
	return b.editedSheet(func(rows [][]any) {
		for _, r := range rows {
			r[b.holder] = ""
		}
	})
}

// lockSnapshot is every lock key and value.
func lockSnapshot(t *testing.T, rds *redisserver.Server) map[string]string {
	t.Helper()
	out := map[string]string{}
	keys, err := rds.Do("KEYS", "spool_lock:*")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range strings.Split(keys, "\n") {
		if k == "" {
			continue
		}
		v, err := rds.Do("GET", k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// sameLocks lists how got differs from want.
func sameLocks(want, got map[string]string) []string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("%s deleted (was %q)", k, v))
		} else if g != v {
			out = append(out, fmt.Sprintf("%s is %q, was %q", k, g, v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s written: %q", k, v))
		}
	}
	sort.Strings(out)
	return out
}

// holdsFor checks, every 100 ms for d, that the lock keys stay exactly want.
func holdsFor(t *testing.T, rds *redisserver.Server, want map[string]string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if diff := sameLocks(want, lockSnapshot(t, rds)); len(diff) > 0 {
			t.Fatalf("the locks changed while the sheet was suspect (%d differences): %v", len(diff), diff[:min(len(diff), 10)])
		}
	}
}

// accepted waits until a run has accepted a snapshot (reconciler:trust accepted_at).
func waitAccepted(t *testing.T, rds *redisserver.Server) {
	t.Helper()
	if !eventually(20*time.Second, func() bool { return rds.MustDo("HEXISTS", "reconciler:trust", "accepted_at") == "1" }) {
		t.Fatal("no snapshot was ever accepted")
	}
}

// suspectLogged waits for the worker's one "sheet suspect" WARN.
func suspectLogged(t *testing.T, w *proc) map[string]any {
	t.Helper()
	var lines []map[string]any
	if !eventually(20*time.Second, func() bool {
		lines = logLines(w.Stderr.String(), suspectMsg)
		return len(lines) > 0
	}) {
		t.Fatal("the worker never logged the sheet as suspect")
	}
	return lines[0]
}

const (
	suspectMsg = "sheet suspect: nothing is written (no restore, no retraction, no release) until the sheet is " +
		"put right or accepted with reconciler accept-sheet"
	trustedMsg = "sheet trusted again: runs write again"
)

// metric reads one unlabelled sample from /metrics ("" when absent).
func (p *proc) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(p.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

type readyzBody struct {
	SheetSuspect *struct {
		Suspect  bool     `json:"suspect"`
		Reason   string   `json:"reason"`
		Examples []string `json:"examples"`
	} `json:"sheet_suspect"`
	LastReport map[string]any `json:"last_report"`
}

// TestSortedHolderColumnWritesNothing: the holder column sorted alone for 3 × ORPHAN_GRACE
// deletes no live lock and writes no lock for another spool; the state shows in the log (one
// WARN), /readyz, the metric and plan (exit 3); once the sheet is put back the locks are
// exactly the backend's and the state ends with one line.
func TestSortedHolderColumnWritesNothing(t *testing.T) {
	const spools = 80
	rds, emu, b, _ := heldSheet(t, spools, notEveryFourth) // 60 held
	env := trustEnv(rds, emu)
	w := startWorker(t, env)
	waitAccepted(t, rds)
	want := lockSnapshot(t, rds)
	if len(want) != 60 {
		t.Fatalf("%d locks before the sort, want 60", len(want))
	}

	emu.SetSheet("Operaciones", b.sortHolders())
	line := suspectLogged(t, w)
	if reason := fmt.Sprint(line["reason"]); !strings.Contains(reason, "of the 60 accepted occupations") {
		t.Errorf("reason %q does not say how many of the accepted were lost", reason)
	}
	if ex, _ := line["examples"].([]any); len(ex) == 0 || !strings.Contains(fmt.Sprint(ex[0]), ": was SB(") {
		t.Errorf("examples %v do not quote lost occupations", line["examples"])
	}
	holdsFor(t, rds, want, 3*trustGrace)

	var ready readyzBody
	if code := getJSON(t, w.URL("/readyz"), &ready); code != 200 || ready.SheetSuspect == nil || !ready.SheetSuspect.Suspect ||
		ready.SheetSuspect.Reason == "" || len(ready.SheetSuspect.Examples) == 0 || ready.LastReport["sheet_suspect"] != true {
		t.Errorf("/readyz (%d) does not show the suspect sheet: %+v", code, ready)
	}
	if v := w.metric(t, "reconciler_sheet_suspect"); v != "1" {
		t.Errorf("reconciler_sheet_suspect = %q, want 1", v)
	}
	out, stderr, code := cli(t, env, "plan", "--json")
	var plan struct {
		Drift           bool `json:"drift"`
		SheetSuspect    bool `json:"sheet_suspect"`
		SuspectRecorded *struct {
			Reason string `json:"reason"`
		} `json:"suspect_recorded"`
		Report struct {
			SuspectReason   string   `json:"suspect_reason"`
			SuspectExamples []string `json:"suspect_examples"`
		} `json:"report"`
	}
	mustJSON(t, out, &plan)
	if code != 3 || !plan.Drift || !plan.SheetSuspect || plan.SuspectRecorded == nil || plan.Report.SuspectReason == "" || len(plan.Report.SuspectExamples) == 0 {
		t.Errorf("plan --json (exit %d, stderr %s): %s", code, stderr, out)
	}
	text, _, code := cli(t, env, "plan")
	if code != 3 || !strings.Contains(text, "sheet suspect: ") || !strings.Contains(text, "workers: sheet suspect since") {
		t.Errorf("plan (exit %d) does not show the suspect sheet:\n%s", code, text)
	}
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 1 {
		t.Errorf("%d suspect WARNs, want 1 (when the state begins)", n)
	}
	if n := reportSum(w.Stderr.String(), "enqueued") + reportSum(w.Stderr.String(), "orphans_released"); n != 0 {
		t.Errorf("runs enqueued or released %d locks", n)
	}

	// The sheet put back: trusted again, one line, and the locks exactly the backend's.
	b.putSheetBack()
	if !eventually(10*time.Second, func() bool { return len(logLines(w.Stderr.String(), trustedMsg)) > 0 }) {
		t.Fatal("the worker never trusted the restored sheet again")
	}
	locksSettleTo(t, w, rds, b, want, spools)
	if n := len(logLines(w.Stderr.String(), trustedMsg)); n != 1 {
		t.Errorf("%d 'trusted again' lines, want 1", n)
	}
	if v := w.metric(t, "reconciler_sheet_suspect"); v != "0" {
		t.Errorf("reconciler_sheet_suspect = %q after the sheet came back, want 0", v)
	}
	if code := getJSON(t, w.URL("/readyz"), &ready); ready.SheetSuspect == nil || ready.SheetSuspect.Suspect {
		t.Errorf("/readyz (%d) still suspect: %+v", code, ready.SheetSuspect)
	}
}

// TestBlankHoldersThenUnseenLocksDeleteNothing: every holder blank at once deletes none of the
// locks; 8 occupations that then reach Redis only (lock written, row never: the worker cannot
// see them) are not deleted either, for 3 × ORPHAN_GRACE.
func TestBlankHoldersThenUnseenLocksDeleteNothing(t *testing.T) {
	const spools = 40
	rds, emu, b, _ := heldSheet(t, spools, firstRows(20))
	w := startWorker(t, trustEnv(rds, emu))
	waitAccepted(t, rds)
	want := lockSnapshot(t, rds)

	emu.SetSheet("Operaciones", b.blankHolders())
	suspectLogged(t, w)
	holdsFor(t, rds, want, trustGrace)

	// Eight INICIARs whose rows never reach the (still blank) sheet.
	now := time.Now().In(santiago)
	for row := 21; row <= 28; row++ {
		key := fmt.Sprintf("spool_lock:SIM-%04d", row-1)
		value := fmt.Sprintf("%d:%s:%s", 200+row, uuid.NewString(), now.Format("02-01-2006 15:04:05"))
		rds.MustDo("SET", key, value)
		want[key] = value
	}
	holdsFor(t, rds, want, 3*trustGrace)
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 1 {
		t.Errorf("%d suspect WARNs, want 1", n)
	}
	if n := rds.MustDo("HLEN", "reconciler:orphans"); n != "0" {
		t.Errorf("%s orphan sightings recorded while suspect, want 0", n)
	}
}

// backlog writes n orphan locks (rows free: the backend released them and never deleted) on
// grid rows from..from+n-1, and returns them.
func backlog(t *testing.T, rds *redisserver.Server, from, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	at := time.Now().Add(-3 * time.Hour).In(santiago)
	for row := from; row < from+n; row++ {
		key := fmt.Sprintf("spool_lock:SIM-%04d", row-1)
		value := fmt.Sprintf("%d:%s:%s", 100+row%50, uuid.NewString(), at.Format("02-01-2006 15:04:05"))
		rds.MustDo("SET", key, value)
		out[key] = value
	}
	return out
}

// TestDayOneBacklogReleased: at first boot 160 orphans beside 30 live locks (the backend's
// release never deletes) are all released within the grace and a tick or two; the 30 are
// untouched, and the sheet is never suspect.
func TestDayOneBacklogReleased(t *testing.T) {
	const live, orphans = 30, 160
	rds, emu, _, _ := heldSheet(t, live+orphans, firstRows(live))
	liveLocks := lockSnapshot(t, rds)
	backlog(t, rds, live+1, orphans)

	w := startWorker(t, trustEnv(rds, emu))
	if !eventually(20*time.Second, func() bool { return len(logLines(w.Stderr.String(), "reconcile finished")) > 0 }) {
		t.Fatal("no reconcile finished")
	}
	first := time.Now()
	// The first run saw them all; the grace, then the worker's own look (grace + 1 s) or a tick.
	if !eventually(trustGrace+6*time.Second, func() bool { return countLocks(rds) == live }) {
		t.Fatalf("%d locks %v after the first run, want %d: the backlog was not released within the grace and a tick",
			countLocks(rds), time.Since(first).Round(time.Millisecond), live)
	}
	t.Logf("backlog released %v after the first run finished", time.Since(first).Round(100*time.Millisecond))
	if diff := sameLocks(liveLocks, lockSnapshot(t, rds)); len(diff) > 0 {
		t.Errorf("live locks touched: %v", diff)
	}
	if got := settledReportSum(w, "orphans_released", orphans); got != orphans {
		t.Errorf("orphans_released %d over all runs, want %d", got, orphans)
	}
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 0 {
		t.Errorf("the sheet was judged suspect %d times", n)
	}
}

// TestBlankSheetAtFirstBootDeletesNothing: first boot on a sheet whose holders are all blank
// beside 190 locks deletes none; once the real sheet is served, the 160 orphans are released
// after the grace and the 30 live locks stay.
func TestBlankSheetAtFirstBootDeletesNothing(t *testing.T) {
	const live, orphans = 30, 160
	rds, emu, b, _ := heldSheet(t, live+orphans, firstRows(live))
	liveLocks := lockSnapshot(t, rds)
	backlog(t, rds, live+1, orphans)
	all := lockSnapshot(t, rds)
	emu.SetSheet("Operaciones", b.blankHolders())

	env := trustEnv(rds, emu)
	w := startWorker(t, env)
	line := suspectLogged(t, w)
	if reason := fmt.Sprint(line["reason"]); !strings.Contains(reason, "no occupation at all while 190 locks exist") {
		t.Errorf("reason %q", reason)
	}
	holdsFor(t, rds, all, 3*trustGrace)
	if _, _, code := cli(t, env, "plan"); code != 3 {
		t.Errorf("plan exit %d on a suspect sheet, want 3", code)
	}
	if rds.MustDo("HEXISTS", "reconciler:trust", "accepted_at") != "0" {
		t.Error("a suspect snapshot was accepted")
	}

	b.putSheetBack()
	if !eventually(trustGrace+10*time.Second, func() bool { return countLocks(rds) == live }) {
		t.Fatalf("%d locks, want %d: the real sheet did not release the backlog", countLocks(rds), live)
	}
	if diff := sameLocks(liveLocks, lockSnapshot(t, rds)); len(diff) > 0 {
		t.Errorf("live locks touched: %v", diff)
	}
	if n := len(logLines(w.Stderr.String(), trustedMsg)); n != 1 {
		t.Errorf("%d 'trusted again' lines, want 1", n)
	}
}

// TestShiftEndOverSeveralTicks: 48 spools finished four at a time over a dozen ticks (the
// backend's release never deletes) is gradual change: never suspect, and every finished spool
// is released.
func TestShiftEndOverSeveralTicks(t *testing.T) {
	const spools = 48
	rds, emu, b, _ := heldSheet(t, spools, everyRow)
	w := startWorker(t, trustEnv(rds, emu))
	waitAccepted(t, rds)
	for row := 1; row <= spools; row++ {
		if err := b.finalizar(row); err != nil {
			t.Fatal(err)
		}
		if row%4 == 0 {
			time.Sleep(1500 * time.Millisecond)
		}
	}
	if !eventually(trustGrace+10*time.Second, func() bool { return countLocks(rds) == 0 }) {
		t.Fatalf("%d locks left after the shift ended, want 0", countLocks(rds))
	}
	if got := settledReportSum(w, "orphans_released", spools); got != spools {
		t.Errorf("orphans_released %d, want %d", got, spools)
	}
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 0 {
		t.Errorf("a shift ending spool by spool was judged suspect (%d WARNs)", n)
	}
}

// TestRedisEmptiedRestoresNotHeld: Redis restarted empty (the accepted snapshot gone with it)
// beside a sane sheet: every lock comes back, and nothing is judged suspect.
func TestRedisEmptiedRestoresNotHeld(t *testing.T) {
	const spools = 30
	rds, emu, b, _ := heldSheet(t, spools, everyRow)
	w := startWorker(t, trustEnv(rds, emu))
	waitAccepted(t, rds)
	rds.Restart()
	if !eventually(30*time.Second, func() bool { return countLocks(rds) == spools }) {
		t.Fatalf("%d locks back after Redis restarted empty, want %d", countLocks(rds), spools)
	}
	got := lockSnapshot(t, rds)
	b.mu.Lock()
	for tag, v := range b.held {
		// Restored values carry a new uuid; worker and time are the sheet's.
		want := strings.SplitN(v, ":", 3)
		have := strings.SplitN(got["spool_lock:"+tag], ":", 3)
		if len(have) != 3 || have[0] != want[0] || have[2] != want[2] {
			t.Errorf("%s restored as %q, the backend held %q", tag, got["spool_lock:"+tag], v)
		}
	}
	b.mu.Unlock()
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 0 {
		t.Errorf("the sane sheet was judged suspect after Redis emptied (%d WARNs)", n)
	}
	waitAccepted(t, rds)
}

// TestAcceptSheetAfterMassChange: a supervisor clears every occupation at once (a real mass
// change: the backend's locks stay). The sheet is suspect and nothing is released; accept-sheet
// without --yes shows what would happen and writes nothing; with --yes the sheet is accepted,
// the state ends, and the next runs release the orphans after the grace.
func TestAcceptSheetAfterMassChange(t *testing.T) {
	const spools = 20
	rds, emu, b, _ := heldSheet(t, spools, everyRow)
	env := trustEnv(rds, emu)
	w := startWorker(t, env)
	waitAccepted(t, rds)
	want := lockSnapshot(t, rds)
	for row := 1; row <= spools; row++ {
		b.writeRow(row, "", "") // cleared in the sheet; the locks stay
	}
	suspectLogged(t, w)
	holdsFor(t, rds, want, trustGrace)
	acceptedBefore := rds.MustDo("GET", "reconciler:accepted_snapshot")
	if acceptedBefore == "" {
		t.Fatalf("the accepted snapshot before the sheet was cleared: %q", acceptedBefore)
	}

	out, stderr, code := cli(t, env, "accept-sheet")
	if code != 0 || !strings.Contains(out, "the current sheet is suspect") || !strings.Contains(out, "lost occupations (20,") ||
		!strings.Contains(out, "release 20 orphan locks") || !strings.Contains(out, "reconciler accept-sheet --yes") {
		t.Fatalf("accept-sheet (exit %d, stderr %s):\n%s", code, stderr, out)
	}
	if rds.MustDo("EXISTS", "reconciler:sheet_suspect") != "1" || rds.MustDo("GET", "reconciler:accepted_snapshot") != acceptedBefore {
		t.Fatal("accept-sheet without --yes wrote")
	}
	holdsFor(t, rds, want, 2*time.Second)

	out, stderr, code = cli(t, env, "accept-sheet", "--yes", "--json")
	var res struct {
		SheetSuspect bool     `json:"sheet_suspect"`
		Lost         int      `json:"lost"`
		Orphans      []any    `json:"orphans"`
		Restores     []string `json:"restores"`
		Accepted     bool     `json:"accepted"`
	}
	mustJSON(t, out, &res)
	if code != 0 || !res.Accepted || !res.SheetSuspect || res.Lost != spools || len(res.Orphans) != spools || len(res.Restores) != 0 {
		t.Fatalf("accept-sheet --yes --json (exit %d, stderr %s): %s", code, stderr, out)
	}
	if rds.MustDo("EXISTS", "reconciler:sheet_suspect") != "0" || rds.MustDo("EXISTS", "reconciler:accepted_snapshot") != "1" ||
		rds.MustDo("STRLEN", "reconciler:accepted_snapshot") != "0" {
		t.Fatal("accept-sheet --yes did not accept the cleared sheet")
	}
	if !eventually(trustGrace+10*time.Second, func() bool { return countLocks(rds) == 0 }) {
		t.Fatalf("%d locks left after the cleared sheet was accepted, want 0", countLocks(rds))
	}
	if n := len(logLines(w.Stderr.String(), suspectMsg)); n != 1 {
		t.Errorf("%d suspect WARNs, want 1", n)
	}
	var ready readyzBody
	getJSON(t, w.URL("/readyz"), &ready)
	if ready.SheetSuspect == nil || ready.SheetSuspect.Suspect {
		t.Errorf("/readyz after acceptance: %+v", ready.SheetSuspect)
	}

	// Usage errors.
	if _, _, code := cli(t, env, "accept-sheet", "--bogus"); code != 2 {
		t.Errorf("accept-sheet --bogus exit %d, want 2", code)
	}
}

// TestUpgradeFromTheAcceptedHash: Redis as an earlier version left it (the accepted occupations
// in the hash reconciler:accepted; no value, no digest) and the holder column sorted alone
// before this version's first run. The worker judges the sheet against the hash: nothing is
// written for 3 × ORPHAN_GRACE, and no sorted snapshot is stored as accepted. Once the sheet is
// put back it stores the accepted snapshot as one value (the occupations are unchanged, yet it
// is migrated), gives the hash a TTL, and the locks are exactly the backend's.
func TestUpgradeFromTheAcceptedHash(t *testing.T) {
	const spools = 40
	rds, emu, b, held := heldSheet(t, spools, notEveryFourth)
	hset := []string{"HSET", "reconciler:accepted"}
	for _, row := range held { // the holders holdRows wrote, as an earlier version accepted them
		hset = append(hset, fmt.Sprintf("SIM-%04d", row-1), fmt.Sprintf("SB(%d)", heldBy(row)))
	}
	rds.MustDo(hset...)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	rds.MustDo("HSET", "reconciler:trust", "accepted_at", now, "judged_at", now)
	want := lockSnapshot(t, rds)
	if len(want) != len(held) {
		t.Fatalf("%d locks before the upgrade, want %d", len(want), len(held))
	}

	emu.SetSheet("Operaciones", b.sortHolders())
	w := startWorker(t, trustEnv(rds, emu))
	line := suspectLogged(t, w)
	if reason := fmt.Sprint(line["reason"]); !strings.Contains(reason, fmt.Sprintf("of the %d accepted occupations", len(held))) {
		t.Errorf("reason %q: not judged against the earlier version's %d accepted occupations", reason, len(held))
	}
	holdsFor(t, rds, want, 3*trustGrace)
	if rds.MustDo("EXISTS", "reconciler:accepted_snapshot") != "0" {
		t.Fatal("the sorted sheet was stored as the accepted snapshot")
	}

	b.putSheetBack()
	if !eventually(10*time.Second, func() bool {
		return rds.MustDo("EXISTS", "reconciler:accepted_snapshot") == "1" && rds.MustDo("HEXISTS", "reconciler:trust", "accepted_digest") == "1"
	}) {
		t.Fatal("the sheet put back (unchanged occupations) was never stored as one value")
	}
	if ttl := rds.MustDo("TTL", "reconciler:accepted"); ttl == "-1" || ttl == "-2" {
		t.Errorf("the earlier version's hash after the migration: TTL %s, want one", ttl)
	}
	locksSettleTo(t, w, rds, b, want, spools)
}
