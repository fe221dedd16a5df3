package tests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// productionSheet is a generated sheet on the production header: the tag column headed
// "TAG_SPOOL / CODIGO_BARRA", SPLIT holding split numbers 1 and 2 on every row, and a notes
// column also headed "Ocupado Por" left of the real Ocupado_Por, holding notes, some of
// which look like holders.
func productionSheet(n int, now time.Time) spoolSheet {
	header := sheets.ProductionHeader(true)
	g := sheetsemu.Generate(header, n, now)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	split, notes := col["SPLIT"], col[sheets.NotesHolderHeader]
	for r := 1; r < len(g.Grid); r++ {
		row := g.Grid[r]
		if len(row) == 0 {
			continue
		}
		for len(row) <= notes {
			row = append(row, nil)
		}
		row[split] = float64(1 + r%2)
		row[notes] = []string{"revisar con JP(12)", "ZZ(77)", "", "urgente"}[r%4]
		g.Grid[r] = row
	}
	s := spoolSheet{grid: g.Grid}
	for _, c := range g.Candidates {
		s.candidates = append(s.candidates, candidate{tag: c.Tag, workerID: c.WorkerID, at: c.At})
	}
	return s
}

// TestProductionHeader: on a 2,000-row sheet with the production header, a SPLIT column of
// split numbers and a second "Ocupado Por" left of the real one, the worker restores exactly
// the expected locks (none named after a split number, holders from the real column), warns
// once about the duplicated name, and `plan` then exits 0.
func TestProductionHeader(t *testing.T) {
	now := time.Now()
	sheet := productionSheet(2000, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off", "RECONCILE_DEADLINE": "30s",
	}
	w := startWorker(t, env)
	want := len(sheet.candidates)
	if !eventually(60*time.Second, func() bool { return countLocks(rds) >= want }) {
		t.Fatalf("locks after the boot reconcile: %d, want %d", countLocks(rds), want)
	}
	time.Sleep(500 * time.Millisecond) // nothing more may come
	if got := countLocks(rds); got != want {
		t.Fatalf("%d locks, want exactly %d", got, want)
	}
	for _, key := range []string{"spool_lock:1", "spool_lock:2"} {
		if rds.MustDo("EXISTS", key) != "0" {
			t.Errorf("a lock named after a split number exists: %s", key)
		}
	}
	for _, c := range sheet.candidates {
		value := rds.MustDo("GET", "spool_lock:"+c.tag)
		m := lockValue.FindStringSubmatch(value)
		if m == nil || m[1] != strconv.Itoa(c.workerID) || m[2] != c.at.In(santiago).Format("02-01-2006 15:04:05") {
			t.Fatalf("lock of %s is %q, want worker %d at %s", c.tag, value, c.workerID, c.at.In(santiago).Format("02-01-2006 15:04:05"))
		}
	}
	reports := logLines(w.Stderr.String(), "reconcile finished")
	if len(reports) == 0 {
		t.Fatal("no reconcile finished line")
	}
	if d := reports[0]["duplicate_tag"]; d != float64(1) {
		t.Errorf("boot report: duplicate_tag %v, want 1 (the generator's one duplicate)", d)
	}
	warnings := 0
	for _, line := range strings.Split(w.Stderr.String(), "\n") {
		if strings.Contains(line, "more than one column") {
			warnings++
			if !strings.Contains(line, `"name":"Ocupado_Por"`) || !strings.Contains(line, `"reading":"BO"`) {
				t.Errorf("duplicate warning does not name Ocupado_Por and column BO: %s", line)
			}
		}
	}
	if warnings != 1 {
		t.Errorf("%d duplicate-header warnings, want 1", warnings)
	}

	// A second run reads the same layout: no second warning.
	if _, errOut, code := cli(t, env, "enqueue", "--wait"); code != 0 {
		t.Fatalf("enqueue --wait: exit %d: %s", code, errOut)
	}
	if n := strings.Count(w.Stderr.String(), "more than one column"); n != 1 {
		t.Errorf("%d duplicate-header warnings after a second run, want 1", n)
	}
	out, errOut, code := cli(t, env, "plan")
	if code != 0 {
		t.Fatalf("plan: exit %d, want 0 (in sync)\nstdout: %s\nstderr: %s", code, tail(out, 20), errOut)
	}
}

// TestTagsAsShownKeepTheirLocks: tag cells that are numbers shown with a format (00123,
// 1.234, 1.00E+03) or text that looks like a date keep the locks the backend wrote under
// the text it sees, through three times the orphan grace; missing ones are restored under
// that text; no lock is ever written under the number behind the text.
func TestTagsAsShownKeepTheirLocks(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	at := now.Add(-time.Hour)
	type spool struct {
		cell   any
		tag    string // what the sheet shows
		locked bool   // the backend's lock is there before the worker starts
	}
	spools := []spool{
		{sheetsemu.Shown(123.0, "00123"), "00123", true},
		{sheetsemu.Shown(1234.0, "1.234"), "1.234", true},
		{sheetsemu.Shown(1000.0, "1.00E+03"), "1.00E+03", true},
		{"2024-01-05", "2024-01-05", true},
		{sheetsemu.Shown(45296.0, "05-01-2024"), "05-01-2024", false},
		{sheetsemu.Shown(77.0, "0077"), "0077", false},
	}
	var rows []map[string]any
	for i, s := range spools {
		rows = append(rows, map[string]any{
			sheetsemu.ColTag: s.cell, sheetsemu.ColHolder: fmt.Sprintf("MR(%d)", 90+i), sheetsemu.ColDate: sheetsemu.DateTime(at),
		})
	}
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheetsemu.Grid(sheets.ProductionHeader(true), rows...))
	wall := at.In(santiago).Format("02-01-2006 15:04:05")
	values := map[string]string{}
	for i, s := range spools {
		values[s.tag] = fmt.Sprintf("%d:4f1e2d3c-0000-4000-8000-%012d:%s", 90+i, i, wall)
		if s.locked {
			rds.MustDo("SET", "spool_lock:"+s.tag, values[s.tag])
		}
	}
	const grace = 3 * time.Second
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "@every 1s", "KEYSPACE_EVENTS": "off", "ORPHAN_GRACE": grace.String(),
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	}
	w := startWorker(t, env)
	if !eventually(20*time.Second, func() bool { return countLocks(rds) == len(spools) }) {
		t.Fatalf("%d locks, want %d: %s", countLocks(rds), len(spools), rds.MustDo("KEYS", "spool_lock:*"))
	}
	start := time.Now()
	for time.Since(start) < 3*grace+time.Second {
		for _, s := range spools {
			got, err := rds.Do("GET", "spool_lock:"+s.tag)
			if err != nil || got == "" {
				t.Fatalf("after %v the lock of %q is gone (%v)", time.Since(start).Round(time.Millisecond), s.tag, err)
			}
			if s.locked && got != values[s.tag] {
				t.Fatalf("the backend's lock of %q became %q", s.tag, got)
			}
		}
		if n := countLocks(rds); n != len(spools) {
			t.Fatalf("%d locks, want %d: %s", n, len(spools), rds.MustDo("KEYS", "spool_lock:*"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := reportSum(w.Stderr.String(), "orphans_released") + reportSum(w.Stderr.String(), "retracted"); n != 0 {
		t.Errorf("%d locks released or retracted, want 0", n)
	}
	if n := len(logLines(w.Stderr.String(), "reconcile finished")); n < 5 {
		t.Errorf("only %d reconciles in %v: the schedule did not run", n, 3*grace)
	}
	if out, errOut, code := cli(t, env, "plan"); code != 0 {
		t.Fatalf("plan: exit %d, want 0\nstdout: %s\nstderr: %s", code, tail(out, 20), errOut)
	}
}

// TestRenamedHolderHeaderWritesNothing: someone renames the real Ocupado_Por header while a
// notes column also headed "Ocupado Por" stands left of it. By the backend's own header rule
// the notes column is now the holder column, so the worker reads notes as holders (some of them
// look like holders: "ZZ(77)"). That snapshot loses every accepted occupation and is suspect:
// for 3 × ORPHAN_GRACE no lock is deleted and none is written for a note. With the header put
// back the sheet is trusted again and the locks are exactly what they were.
func TestRenamedHolderHeaderWritesNothing(t *testing.T) {
	sheet := productionSheet(300, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	w := startWorker(t, trustEnv(rds, emu))
	if !eventually(30*time.Second, func() bool { return countLocks(rds) >= len(sheet.candidates) }) {
		t.Fatalf("locks after the boot reconcile: %d, want %d", countLocks(rds), len(sheet.candidates))
	}
	waitAccepted(t, rds)
	want := lockSnapshot(t, rds)
	if len(want) != len(sheet.candidates) || len(want) <= 5 {
		t.Fatalf("%d locks before the rename, want the sheet's %d (more than a handful)", len(want), len(sheet.candidates))
	}

	renamed := append([][]any(nil), sheet.grid...)
	header := append([]any(nil), sheet.grid[0]...)
	real := -1
	for i, h := range header {
		if h == sheets.HeaderHolder {
			real = i
		}
	}
	if real < 0 {
		t.Fatal("the production header has no Ocupado_Por")
	}
	header[real] = "Ocupado_Por (antiguo)"
	renamed[0] = header
	emu.SetSheet("Operaciones", renamed)
	line := suspectLogged(t, w)
	if ex := fmt.Sprint(line["examples"]); !strings.Contains(ex, "now ") {
		t.Errorf("examples %s do not quote what the holders became", ex)
	}
	holdsFor(t, rds, want, 3*trustGrace)
	if n := rds.MustDo("HLEN", "reconciler:orphans"); n != "0" {
		t.Errorf("%s orphan sightings recorded while suspect, want 0", n)
	}

	emu.SetSheet("Operaciones", sheet.grid)
	if !eventually(10*time.Second, func() bool { return len(logLines(w.Stderr.String(), trustedMsg)) > 0 }) {
		t.Fatal("the worker never trusted the sheet again once the header was put back")
	}
	back := time.Now()
	if !eventually(10*time.Second, func() bool { return runsFinishedAfter(w.Stderr.String(), "schedule", back) >= 2 }) {
		t.Fatal("no run after the header came back")
	}
	if diff := sameLocks(want, lockSnapshot(t, rds)); len(diff) > 0 {
		t.Errorf("after the header came back: %v", diff)
	}
}
