package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

var santiago = sheetsemu.Santiago

// spoolSheet is a test sheet and what the reconciler must make of it.
type spoolSheet struct {
	grid       [][]any
	candidates []candidate // rows the sheet says are taken and fresh, in order
}

type candidate struct {
	tag      string
	workerID int
	at       time.Time // to the second
}

// buildSheet makes n rows on the real header (sheetsemu.Generate): 20% fresh occupations,
// the rest free, DISPONIBLE, occupied too long ago or tag-only, plus a few malformed rows.
func buildSheet(t *testing.T, n int, now time.Time) spoolSheet {
	g := sheetsemu.Generate(sheets.OperacionesHeader(), n, now)
	s := spoolSheet{grid: g.Grid}
	for _, c := range g.Candidates {
		s.candidates = append(s.candidates, candidate{tag: c.Tag, workerID: c.WorkerID, at: c.At})
	}
	return s
}

var lockValue = regexp.MustCompile(`^(\d+):[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}:(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)$`)

// TestWorkerRestoresMissingLocks is the reconcile core end to end: the built binary, a real
// redis-server, the real Sheets client against the emulator, a 2,000-row sheet.
func TestWorkerRestoresMissingLocks(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 2000, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)

	// Before: one candidate already locked by its holder, one locked by somebody else (with a
	// TTL that must survive), and one orphan.
	same, other := sheet.candidates[0], sheet.candidates[1]
	sameValue := fmt.Sprintf("%d:11111111-1111-4111-8111-111111111111:%s", same.workerID, same.at.In(santiago).Format("02-01-2006 15:04:05"))
	otherValue := "999:22222222-2222-4222-8222-222222222222:01-01-2026 00:00:00"
	rds.MustDo("SET", "spool_lock:"+same.tag, sameValue)
	rds.MustDo("SET", "spool_lock:"+other.tag, otherValue, "EX", "3600")
	rds.MustDo("SET", "spool_lock:ORPHAN-1", "7:33333333-3333-4333-8333-333333333333:01-01-2026 00:00:00")

	env := map[string]string{
		"REDIS_URL":          rds.URL(),
		"GOOGLE_SHEET_ID":    emu.SpreadsheetID(),
		"SHEETS_ENDPOINT":    emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off",
		"KEYSPACE_EVENTS":    "off",
		"RECONCILE_DEADLINE": "30s",
	}
	missing := len(sheet.candidates) - 2

	out, errOut, code := cli(t, env, "plan", "--json")
	if code != 3 {
		t.Fatalf("plan before the worker: exit %d, want 3 (drift); stderr: %s", code, errOut)
	}
	var before struct {
		Report struct {
			Missing        int
			HolderMismatch int `json:"holder_mismatch"`
			Candidate      int
			DuplicateTag   int `json:"duplicate_tag"`
			InvalidHolder  int `json:"invalid_holder"`
			InvalidDate    int `json:"invalid_date"`
			TooOld         int `json:"too_old"`
		}
	}
	mustJSON(t, out, &before)
	if r := before.Report; r.Missing != missing || r.HolderMismatch != 1 || r.Candidate != len(sheet.candidates) ||
		r.DuplicateTag != 1 || r.InvalidHolder != 1 || r.InvalidDate != 1 || r.TooOld != 400 {
		t.Fatalf("plan before: %+v, want missing %d, 1 mismatch, %d candidates, 1 duplicate, 1 bad holder, 1 bad date, 400 too old",
			r, missing, len(sheet.candidates))
	}
	if got := rds.MustDo("DBSIZE"); got != "3" {
		t.Fatalf("plan wrote to Redis: DBSIZE %s, want 3", got)
	}

	requestsBefore := emu.Requests()
	w := startWorker(t, env)
	want := len(sheet.candidates) + 1 // every candidate + the orphan
	if !eventually(60*time.Second, func() bool { return countLocks(rds) == want }) {
		t.Fatalf("locks after boot reconcile: %d, want %d", countLocks(rds), want)
	}
	if got := emu.Requests() - requestsBefore; got != 2 {
		t.Errorf("the boot reconcile made %d Sheets requests, want 2 (header, then one batchGet)", got)
	}

	for _, c := range sheet.candidates[2:] {
		value := rds.MustDo("GET", "spool_lock:"+c.tag)
		m := lockValue.FindStringSubmatch(value)
		if m == nil {
			t.Fatalf("lock of %s is %q: not the backend's format", c.tag, value)
		}
		if m[1] != strconv.Itoa(c.workerID) || m[2] != c.at.In(santiago).Format("02-01-2006 15:04:05") {
			t.Fatalf("lock of %s is %q, want worker %d at %s", c.tag, value, c.workerID, c.at.In(santiago).Format("02-01-2006 15:04:05"))
		}
		if ttl := rds.MustDo("PTTL", "spool_lock:"+c.tag); ttl != "-1" {
			t.Fatalf("lock of %s has PTTL %s, want -1 (persistent)", c.tag, ttl)
		}
	}
	if got := rds.MustDo("GET", "spool_lock:"+same.tag); got != sameValue {
		t.Errorf("an existing lock of the same holder was rewritten: %q", got)
	}
	if got := rds.MustDo("GET", "spool_lock:"+other.tag); got != otherValue {
		t.Errorf("another holder's lock was overwritten: %q", got)
	}
	if ttl, _ := strconv.Atoi(rds.MustDo("TTL", "spool_lock:"+other.tag)); ttl <= 0 || ttl > 3600 {
		t.Errorf("another holder's lock lost its TTL: %d", ttl)
	}
	if got := rds.MustDo("EXISTS", "spool_lock:ORPHAN-1"); got != "1" {
		t.Errorf("the orphan lock was deleted before ORPHAN_GRACE (10m) had passed")
	}
	for _, tag := range []string{"BAD-HOLDER-1", "BAD-DATE-1"} {
		if rds.MustDo("EXISTS", "spool_lock:"+tag) != "0" {
			t.Errorf("a lock was written for malformed row %s", tag)
		}
	}

	// /readyz carries the boot report.
	var ready struct {
		Ready      bool
		LastReport struct {
			Trigger  string
			Missing  int
			Enqueued int
		} `json:"last_report"`
	}
	getJSON(t, w.URL("/readyz"), &ready)
	if !ready.Ready || ready.LastReport.Trigger != "boot" || ready.LastReport.Missing != missing || ready.LastReport.Enqueued != missing {
		t.Errorf("/readyz = %+v, want ready with the boot report (missing = enqueued = %d)", ready, missing)
	}

	// After: nothing missing, the other holder's lock still reported.
	out, _, code = cli(t, env, "plan")
	if code != 3 || !strings.Contains(out, "drift: 0 missing, 1 held by someone else") {
		t.Fatalf("plan after the boot reconcile: exit %d, output:\n%s", code, out)
	}

	// The other holder releases; a manual reconcile restores the sheet's holder.
	rds.MustDo("DEL", "spool_lock:"+other.tag)
	out, errOut, code = cli(t, env, "enqueue", "--wait")
	if code != 0 {
		t.Fatalf("enqueue --wait: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "restores: restored 1, already_locked 0") || !strings.Contains(out, "missing 1, enqueued 1") {
		t.Fatalf("enqueue --wait did not print the final tally:\n%s", out)
	}
	if m := lockValue.FindStringSubmatch(rds.MustDo("GET", "spool_lock:"+other.tag)); m == nil || m[1] != strconv.Itoa(other.workerID) {
		t.Fatalf("lock of %s not restored for worker %d", other.tag, other.workerID)
	}
	out, _, code = cli(t, env, "plan")
	if code != 0 || !strings.Contains(out, "in sync") {
		t.Fatalf("plan when in sync: exit %d, output:\n%s", code, out)
	}

	// SIGTERM: exit 0 within 8 s.
	start := time.Now()
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(8 * time.Second); code != 0 {
		t.Fatalf("after SIGTERM: exit code %d after %v, want 0 within 8s", code, time.Since(start))
	}
}

func countLocks(rds *redisserver.Server) int {
	out, err := rds.Do("KEYS", "spool_lock:*")
	if err != nil || out == "" {
		return 0
	}
	return len(strings.Split(out, "\n"))
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode JSON %q: %v", tail(s, 5), err)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	mustJSON(t, string(body), v)
	return resp.StatusCode
}
