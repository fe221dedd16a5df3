package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// Faults and bad input (issue 5): Sheets API faults against `reconciler plan` and a running
// worker, a worker killed with kill -9 in the middle of a large recovery, and Redis down at
// boot for 20 s. Every run must end with a report or a clear error, the worker must keep
// running, and no lock may be written that the rules do not allow.

// faultEnv is the environment of a worker or CLI on rds and emu.
func faultEnv(rds *redisserver.Server, emu *sheetsemu.Emulator, extra map[string]string) map[string]string {
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// withoutColumn is grid with the header cell named col renamed, so the column is not found.
func withoutColumn(grid [][]any, col string) [][]any {
	out := make([][]any, len(grid))
	copy(out, grid)
	head := append([]any(nil), grid[0]...)
	for i, h := range head {
		if h == col {
			head[i] = "Ocupado"
		}
	}
	out[0] = head
	return out
}

// withCell is grid with the cell of column col in the row of tag replaced by v.
func withCell(grid [][]any, tag, col string, v any) ([][]any, int) {
	tagCol, target := -1, -1
	for i, h := range grid[0] {
		switch h {
		case sheetsemu.ColTag:
			tagCol = i
		case col:
			target = i
		}
	}
	out := make([][]any, len(grid))
	copy(out, grid)
	for r, row := range grid {
		if r > 0 && tagCol < len(row) && row[tagCol] == tag {
			line := append([]any(nil), row...)
			for len(line) <= target {
				line = append(line, nil)
			}
			line[target] = v
			out[r] = line
			return out, r + 1
		}
	}
	panic("withCell: no row with tag " + tag)
}

// planReport is the part of `plan --json` the fault tests read.
type planReport struct {
	Report struct {
		Rows           int
		Candidate      int
		Missing        int
		InvalidDate    int `json:"invalid_date"`
		InvalidHolder  int `json:"invalid_holder"`
		DuplicateTag   int `json:"duplicate_tag"`
		TooOld         int `json:"too_old"`
		HolderMismatch int `json:"holder_mismatch"`
		OrphanLocks    int `json:"orphan_locks"`
		SheetsRequests int `json:"sheets_requests"`
		Problems       []struct {
			Row    int
			Tag    string
			Class  string
			Detail string
		}
	}
	Drift bool
}

// TestPlanSheetsFaults: `reconciler plan` against a faulty Sheets API ends with exit 1 and a
// message naming the problem (or, where retries absorb the fault, with the right report), within
// its deadline, making a bounded number of requests, and writes nothing to Redis.
func TestPlanSheetsFaults(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 2000, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	seedLocks(t, rds, sheet)
	env := faultEnv(rds, emu, map[string]string{"RECONCILE_DEADLINE": "2s"}) // plan's own deadline: 3 × 2 s
	missing := len(sheet.candidates) - 2

	cases := []struct {
		name   string
		setup  func()
		code   int
		stderr []string      // substrings of stderr, for exit 1
		maxReq int           // requests the run may make (0: no check)
		within time.Duration // the run must end within this
		check  func(t *testing.T, r planReport)
	}{
		{
			name:  "429 storm",
			setup: func() { emu.SetSheet("Operaciones", sheet.grid); emu.FailNext(1000, 429, "1") },
			code:  1, stderr: []string{"429", "Quota exceeded", "gave up after"}, maxReq: 5, within: 8 * time.Second,
		},
		{
			name:  "a few 429s are retried",
			setup: func() { emu.SetSheet("Operaciones", sheet.grid); emu.FailNext(2, 429, "1") },
			code:  3, within: 6 * time.Second,
			check: func(t *testing.T, r planReport) {
				if r.Report.Missing != missing || r.Report.SheetsRequests != 4 {
					t.Errorf("missing %d, sheets_requests %d; want %d and 4 (2 failures, header, values)", r.Report.Missing, r.Report.SheetsRequests, missing)
				}
			},
		},
		{
			name:  "500s",
			setup: func() { emu.SetSheet("Operaciones", sheet.grid); emu.FailNext(1000, 500, "") },
			code:  1, stderr: []string{"500", "gave up after"}, maxReq: 5, within: 8 * time.Second,
		},
		{
			name:  "a 503 is retried",
			setup: func() { emu.SetSheet("Operaciones", sheet.grid); emu.FailNext(1, 503, "") },
			code:  3, within: 6 * time.Second,
		},
		{
			name:  "slow responses past the deadline",
			setup: func() { emu.SetSheet("Operaciones", sheet.grid); emu.SetDelay(20 * time.Second) },
			code:  1, stderr: []string{"deadline exceeded", "read the header row"}, within: 8 * time.Second,
		},
		{
			name: "invalid JSON",
			setup: func() {
				emu.SetSheet("Operaciones", sheet.grid)
				emu.SetRawResponse("<html><body>Service Unavailable</body></html>")
			},
			code: 1, stderr: []string{"not the JSON expected"}, maxReq: 1, within: 5 * time.Second,
		},
		{
			name: "JSON of the wrong shape",
			setup: func() {
				emu.SetSheet("Operaciones", sheet.grid)
				emu.SetRawResponse(`{"range": "Operaciones!A1:BW1", "majorDimension": "ROWS", "values": "TAG_SPOOL"}`)
			},
			code: 1, stderr: []string{"not the JSON expected"}, maxReq: 1, within: 5 * time.Second,
		},
		{
			name: "truncated JSON",
			setup: func() {
				emu.SetSheet("Operaciones", sheet.grid)
				emu.SetRawResponse(`{"range": "Operaciones!A1:BW1", "majorDimension": "ROWS", "values": [["ID", "TAG_SP`)
			},
			code: 1, stderr: []string{"not the JSON expected", "unexpected end of JSON input"}, maxReq: 1, within: 5 * time.Second,
		},
		{
			name:  "missing column",
			setup: func() { emu.SetSheet("Operaciones", withoutColumn(sheet.grid, sheetsemu.ColHolder)) },
			code:  1, stderr: []string{`no column "Ocupado_Por"`, "headers found", `"TAG_SPOOL"`, `"Fecha_Ocupacion"`}, maxReq: 1, within: 5 * time.Second,
		},
		{
			name:  "no header at all",
			setup: func() { emu.SetSheet("Operaciones", [][]any{}) },
			code:  1, stderr: []string{`no column "TAG_SPOOL"`, "row 1 is empty"}, maxReq: 1, within: 5 * time.Second,
		},
		{
			name:  "header and no rows",
			setup: func() { emu.SetSheet("Operaciones", sheet.grid[:1]) },
			code:  0, maxReq: 2, within: 5 * time.Second,
			check: func(t *testing.T, r planReport) {
				// The seeded locks are now orphans: reported, not drift.
				if r.Report.Rows != 0 || r.Report.Missing != 0 || r.Report.OrphanLocks != 3 || r.Drift {
					t.Errorf("report %+v, want 0 rows, nothing missing, 3 orphan locks, no drift", r.Report)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu.SetDelay(0)
			emu.FailNext(0, 0, "")
			tc.setup()
			t.Cleanup(func() { emu.SetDelay(0); emu.FailNext(0, 0, "") })
			keys := rds.MustDo("DBSIZE")
			before := emu.Requests()
			start := time.Now()
			out, errOut, code := cli(t, env, "plan", "--json")
			took := time.Since(start)
			requests := emu.Requests() - before
			t.Logf("exit %d after %v, %d Sheets requests; stderr: %s", code, took.Round(time.Millisecond), requests, strings.TrimSpace(errOut))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, tail(out, 10), errOut)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr does not name the problem (%q missing):\n%s", s, errOut)
				}
			}
			if code == 1 && (strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ")) {
				t.Errorf("plan crashed:\n%s", errOut)
			}
			if tc.maxReq > 0 && requests > tc.maxReq {
				t.Errorf("%d Sheets requests, want at most %d", requests, tc.maxReq)
			}
			if took > tc.within {
				t.Errorf("plan took %v, want at most %v", took, tc.within)
			}
			if got := rds.MustDo("DBSIZE"); got != keys {
				t.Errorf("plan wrote to Redis: DBSIZE %s, was %s", got, keys)
			}
			if code != 1 {
				var r planReport
				mustJSON(t, out, &r)
				if tc.check != nil {
					tc.check(t, r)
				}
			}
		})
	}
}

// TestPlanLargeSheetOneCorruptCell: 100,000 rows with one corrupt date cell: the run reports
// that one row (class, row number, the cell's text) and classifies every other row as usual.
func TestPlanLargeSheetOneCorruptCell(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 100000, now)
	victim := sheet.candidates[len(sheet.candidates)/2]
	grid, row := withCell(sheet.grid, victim.tag, sheetsemu.ColDate, "31-02-2026 25:61:00")
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", grid)
	seedLocks(t, rds, sheet)
	out, errOut, code := cli(t, faultEnv(rds, emu, nil), "plan", "--json")
	if code != 3 {
		t.Fatalf("plan: exit %d, want 3 (drift); stderr: %s", code, errOut)
	}
	var r planReport
	mustJSON(t, out, &r)
	rep := r.Report
	if rep.Rows != 100003 || rep.Candidate != len(sheet.candidates)-1 || rep.InvalidDate != 2 || rep.InvalidHolder != 1 ||
		rep.DuplicateTag != 1 || rep.TooOld != 20000 || rep.Missing != len(sheet.candidates)-3 || rep.HolderMismatch != 1 {
		t.Errorf("report %+v; want 100003 rows, %d candidates, 2 invalid dates, 1 invalid holder, 1 duplicate, 20000 too old, %d missing, 1 mismatch",
			rep, len(sheet.candidates)-1, len(sheet.candidates)-3)
	}
	found := false
	for _, p := range rep.Problems {
		if p.Row == row && p.Tag == victim.tag && p.Class == "invalid_date" && strings.Contains(p.Detail, "31-02-2026 25:61:00") {
			found = true
		}
	}
	if !found {
		t.Errorf("the corrupt cell (row %d, %s) is not among the reported problems: %+v", row, victim.tag, rep.Problems)
	}
	if rep.SheetsRequests != 2 {
		t.Errorf("sheets_requests %d, want 2 (header, one batchGet)", rep.SheetsRequests)
	}
}

// runOutcome is how a worker's reconcile run ended, from its log.
type runOutcome struct {
	finished map[string]any // the "reconcile finished" record, or nil
	failed   map[string]any // the "reconcile failed" record, or nil
}

func (o runOutcome) err() string {
	if o.failed == nil {
		return ""
	}
	s, _ := o.failed["err"].(string)
	return s
}

func (o runOutcome) count(field string) int {
	v, _ := o.finished[field].(float64)
	return int(v)
}

// postReconcile asks the worker for a full reconcile and returns its task (run) id.
func postReconcile(t *testing.T, w *proc, password string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.URL("/reconcile"), nil)
	req.SetBasicAuth("admin", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /reconcile: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		TaskID string `json:"task_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusAccepted || body.TaskID == "" {
		t.Fatalf("POST /reconcile: %s, %+v, %v", resp.Status, body, err)
	}
	return body.TaskID
}

// waitRun waits for the run's "reconcile finished" or "reconcile failed" log record.
func waitRun(t *testing.T, w *proc, runID string, d time.Duration) runOutcome {
	t.Helper()
	var o runOutcome
	ok := eventually(d, func() bool {
		log := w.Stderr.String()
		for _, rec := range logLines(log, "reconcile finished") {
			if rec["run_id"] == runID {
				o.finished = rec
			}
		}
		for _, rec := range logLines(log, "reconcile failed") {
			if rec["run_id"] == runID {
				o.failed = rec
			}
		}
		return o.finished != nil || o.failed != nil
	})
	if !ok {
		t.Fatalf("run %s neither finished nor failed within %v; log:\n%s", runID, d, tail(w.Stderr.String(), 30))
	}
	return o
}

// TestWorkerSheetsFaults: one worker, in sync with a 2,000-row sheet, then the sheet loses 20
// locks and each fault in turn hits a manual reconcile. Every run ends with a report or with
// an error naming the problem (in the log and as the asynq task's last error); while a fault
// lasts nothing is written (the 20 locks stay missing, the other locks are untouched); the
// worker keeps serving /healthz; once the sheet is healthy the locks come back.
func TestWorkerSheetsFaults(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 2000, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	seeded := seedLocks(t, rds, sheet)
	const password = "faults"
	w := startWorker(t, faultEnv(rds, emu, map[string]string{
		"RECONCILE_DEADLINE": "3s", "MONITOR_PASSWORD": password, "SHEETS_MAX_READS_PER_MINUTE": "600",
	}))
	all := len(sheet.candidates) + 1 // every candidate + the orphan
	if !eventually(60*time.Second, func() bool { return countLocks(rds) == all }) {
		t.Fatalf("boot reconcile: %d locks, want %d", countLocks(rds), all)
	}
	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: rds.Addr()})
	t.Cleanup(func() { _ = inspector.Close() })

	dropped := sheet.candidates[10:30]
	drop := func() {
		for _, c := range dropped {
			rds.MustDo("DEL", "spool_lock:"+c.tag)
		}
	}
	// healthy checks what must hold after every fault: the worker runs and serves /healthz,
	// the seeded locks are as they were, and only the locks the rules allow exist.
	healthy := func(t *testing.T, wantLocks int) {
		t.Helper()
		if code := w.Wait(0); code != -1 {
			t.Fatalf("the worker exited (code %d)", code)
		}
		if code := w.get("/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz %d, want 200", code)
		}
		for key, value := range seeded {
			if got := rds.MustDo("GET", key); got != value {
				t.Errorf("seeded lock %s is %q, was %q", key, got, value)
			}
		}
		if n := countLocks(rds); n != wantLocks {
			t.Errorf("%d locks, want %d", n, wantLocks)
		}
	}

	faults := []struct {
		name   string
		inject func()
		errs   []string // the run fails with an error holding these
	}{
		{"429 storm", func() { emu.FailNext(1000, 429, "1") }, []string{"429", "gave up after"}},
		{"500s", func() { emu.FailNext(1000, 500, "") }, []string{"500", "gave up after"}},
		{"slow responses past RECONCILE_DEADLINE", func() { emu.SetDelay(10 * time.Second) }, []string{"deadline exceeded"}},
		{"invalid JSON", func() { emu.SetRawResponse("<html>502 Bad Gateway</html>") }, []string{"not the JSON expected"}},
		{"a batchGet without its ranges", func() { emu.SetRawResponse(`{"spreadsheetId": "emulated-spreadsheet", "valueRanges": []}`) },
			[]string{"asked for 4 ranges, got 0"}},
		{"truncated JSON", func() {
			emu.SetRawResponse(`{"spreadsheetId": "emulated-spreadsheet", "valueRanges": [{"range": "Operaciones!G1:G2005", "majorDimension": "COLUMNS", "values": [["TAG_SPOOL", "MK-00`)
		}, []string{"not the JSON expected", "unexpected end of JSON input"}},
		{"missing column", func() { emu.SetSheet("Operaciones", withoutColumn(sheet.grid, sheetsemu.ColHolder)) },
			[]string{`no column "Ocupado_Por"`, "headers found"}},
		{"no header at all", func() { emu.SetSheet("Operaciones", [][]any{}) }, []string{"row 1 is empty"}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			drop()
			f.inject()
			runID := postReconcile(t, w, password)
			start := time.Now()
			o := waitRun(t, w, runID, 20*time.Second)
			emu.SetDelay(0)
			emu.FailNext(0, 0, "")
			emu.SetSheet("Operaciones", sheet.grid)
			t.Logf("run ended after %v: %s", time.Since(start).Round(time.Millisecond), o.err())
			if o.failed == nil {
				t.Fatalf("the run did not fail: %v", o.finished)
			}
			for _, s := range f.errs {
				if !strings.Contains(o.err(), s) {
					t.Errorf("error %q does not say %q", o.err(), s)
				}
			}
			// asynq keeps the task with the same error, for a retry with backoff.
			if !eventually(5*time.Second, func() bool {
				info, err := inspector.GetTaskInfo("reconcile", runID)
				return err == nil && info.State == asynq.TaskStateRetry && strings.Contains(info.LastErr, f.errs[0])
			}) {
				info, err := inspector.GetTaskInfo("reconcile", runID)
				t.Errorf("task %s: %+v, %v; want state retry with the error", runID, info, err)
			}
			// The retry would come 15-45 s later; the next fault must not meet it.
			if _, err := inspector.DeleteAllRetryTasks("reconcile"); err != nil {
				t.Fatal(err)
			}
			healthy(t, all-len(dropped))
		})
	}

	t.Run("header and no rows", func(t *testing.T) {
		drop()
		emu.SetSheet("Operaciones", sheet.grid[:1])
		runID := postReconcile(t, w, password)
		o := waitRun(t, w, runID, 20*time.Second)
		emu.SetSheet("Operaciones", sheet.grid)
		if o.failed != nil {
			t.Fatalf("an empty sheet failed the run: %s", o.err())
		}
		// Every lock is an orphan now: reported, not released (first seen now, ORPHAN_GRACE is 10m).
		if o.count("rows") != 0 || o.count("missing") != 0 || o.count("orphan_locks") != all-len(dropped) || o.count("orphans_released") != 0 {
			t.Errorf("report %v; want 0 rows, nothing missing, %d orphans, none deleted", o.finished, all-len(dropped))
		}
		healthy(t, all-len(dropped))
	})

	t.Run("one corrupt cell", func(t *testing.T) {
		drop()
		victim := dropped[0]
		grid, row := withCell(sheet.grid, victim.tag, sheetsemu.ColDate, "31-02-2026 25:61:00")
		emu.SetSheet("Operaciones", grid)
		runID := postReconcile(t, w, password)
		o := waitRun(t, w, runID, 20*time.Second)
		if o.failed != nil {
			t.Fatalf("one corrupt cell failed the run: %s", o.err())
		}
		if o.count("invalid_date") != 2 || o.count("missing") != len(dropped)-1 || o.count("enqueued") != len(dropped)-1 {
			t.Errorf("report %v; want 2 invalid dates, %d missing and enqueued", o.finished, len(dropped)-1)
		}
		if !eventually(20*time.Second, func() bool { return countLocks(rds) == all-1 }) {
			t.Fatalf("%d locks, want %d (all but the corrupt row's)", countLocks(rds), all-1)
		}
		if got := rds.MustDo("EXISTS", "spool_lock:"+victim.tag); got != "0" {
			t.Errorf("a lock was written for row %d, whose date is corrupt", row)
		}
		healthy(t, all-1)
	})

	t.Run("healthy again", func(t *testing.T) {
		emu.SetSheet("Operaciones", sheet.grid)
		runID := postReconcile(t, w, password)
		o := waitRun(t, w, runID, 20*time.Second)
		if o.failed != nil {
			t.Fatalf("run failed: %s", o.err())
		}
		if !eventually(20*time.Second, func() bool { return countLocks(rds) == all }) {
			t.Fatalf("%d locks, want %d", countLocks(rds), all)
		}
		checkLocks(t, rds, sheet, seeded)
		healthy(t, all)
		if n := len(logLines(w.Stderr.String(), "Redis lost its data; reconciling everything")); n != 0 {
			t.Errorf("Sheets faults were taken for Redis restarts %d times", n)
		}
	})
}

// TestRedisDownAtBootFor20s: Redis is unreachable when the worker starts and stays down for
// 20 s. The worker keeps running and serving /healthz (no crash loop), /readyz says 503, it
// backs off rather than flooding its log, and once Redis is up it reconciles on its own.
func TestRedisDownAtBootFor20s(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 500, now)
	rds := redisserver.Start(t)
	rds.Kill()
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	w := startWorker(t, faultEnv(rds, emu, nil))
	down := time.Now()
	for time.Since(down) < 20*time.Second {
		if code := w.Wait(0); code != -1 {
			t.Fatalf("the worker exited (code %d) %v after start with Redis down; log:\n%s", code, time.Since(down), tail(w.Stderr.String(), 20))
		}
		if code := w.get("/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz %d with Redis down, want 200", code)
		}
		if code := w.get("/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz %d with Redis down, want 503", code)
		}
		time.Sleep(time.Second)
	}
	if n := emu.Requests(); n != 0 {
		t.Errorf("the worker read the sheet %d times with Redis down", n)
	}
	// The outage is told once; asynq's and go-redis's retries stay out of the log.
	lines := strings.Count(w.Stderr.String(), "\n")
	t.Logf("log lines during 20 s without Redis: %d", lines)
	if lines > 20 {
		t.Errorf("%d log lines in 20 s without Redis: a flood\n%s", lines, tail(w.Stderr.String(), 40))
	}
	for _, line := range floodLines(w.Stderr.String()) {
		t.Errorf("a library's complaint about the outage reached the log: %s", line)
	}
	if n := len(logLines(w.Stderr.String(), msgRedisLost)); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgRedisLost)
	}
	up := time.Now()
	rds.Restart()
	if !eventually(60*time.Second, func() bool { return countLocks(rds) == len(sheet.candidates) }) {
		t.Fatalf("%v after Redis came up: %d locks, want %d", time.Since(up), countLocks(rds), len(sheet.candidates))
	}
	t.Logf("every lock back %v after Redis came up", time.Since(up).Round(100*time.Millisecond))
	if !eventually(5*time.Second, func() bool { return w.get("/readyz") == http.StatusOK }) {
		t.Fatal("/readyz stayed unready after Redis came back")
	}
	for _, c := range sheet.candidates[:20] {
		if m := lockValue.FindStringSubmatch(rds.MustDo("GET", "spool_lock:"+c.tag)); m == nil || m[1] != fmt.Sprint(c.workerID) {
			t.Errorf("lock of %s is not worker %d's in the backend's format", c.tag, c.workerID)
		}
	}
	if code := w.Wait(0); code != -1 {
		t.Fatalf("the worker exited (code %d)", code)
	}
}

// tallies sums the restore outcomes of every run's tally (reconciler:run:*).
func tallies(t *testing.T, rds *redisserver.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	keys, err := rds.Do("KEYS", "reconciler:run:*")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range strings.Split(keys, "\n") {
		if key == "" {
			continue
		}
		fields := strings.Split(rds.MustDo("HGETALL", key), "\n")
		for i := 0; i+1 < len(fields); i += 2 {
			out[fields[i]] += atoi(fields[i+1])
		}
	}
	return out
}

// TestKillWorkerMidRestores: a worker is killed with SIGKILL in the middle of a batched
// recovery of 20,000 locks, with a second worker running. To kill it with batches in flight
// (a batch of 500 takes milliseconds), Redis is frozen for 3 s by a script that checks, in the
// same step, that restore batches are active (freezeWhileRestoring), and the kill lands during
// the freeze. The second worker finishes the queue; the dead worker's batches come back once
// asynq sees their lease expired (lease 30 s; its recoverer runs every minute and takes leases
// expired for over 30 s; the retry follows within a second or two): that delay is asserted.
// The retried batch finds its locks written (already_locked) or its snapshot stale, and stale
// spools get a fresh look. In the end every
// lock holds exactly what the sheet implies, nothing that was there is overwritten, and each
// lock was written once: a batch counts its outcomes in the same script call that writes the
// locks, so the runs' tallies count exactly one "restored" per written lock.
func TestKillWorkerMidRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for asynq's lease recovery (up to ~2 min)")
	}
	now := time.Now()
	sheet := buildSheet(t, 100000, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	seeded := seedLocks(t, rds, sheet)
	// Locks of other holders spread over the sheet: never overwritten.
	for i := 100; i < len(sheet.candidates); i += 1000 {
		key := "spool_lock:" + sheet.candidates[i].tag
		seeded[key] = fmt.Sprintf("555:44444444-4444-4444-8444-%012d:01-01-2026 00:00:00", i)
		rds.MustDo("SET", key, seeded[key])
	}
	env := faultEnv(rds, emu, map[string]string{"WORKER_CONCURRENCY": "2", "RECONCILE_DEADLINE": "120s", "LOG_FORMAT": "json"})
	toRestore := len(sheet.candidates) - 2 - (len(seeded) - 3)
	base := countLocks(rds)

	first := startWorker(t, env)
	asleep := freezeWhileRestoring(t, rds, 3*time.Second)
	second := startWorker(t, env)      // its first commands wait for Redis to wake
	time.Sleep(500 * time.Millisecond) // inside the freeze: the first worker's batches are in flight
	first.Signal(syscall.SIGKILL)
	first.Wait(10 * time.Second)
	killed := time.Now()
	if froze := <-asleep; froze.err != nil || froze.active == 0 {
		t.Fatalf("the freeze found %d restore batches active (%v)", froze.active, froze.err)
	}
	done := countLocks(rds) - base
	if done >= toRestore {
		t.Fatalf("all %d restores were done before the kill", toRestore)
	}
	// The survivor's own tasks leave the active list within milliseconds; what stays there is
	// the dead worker's, until asynq's recoverer sees the lease expired.
	time.Sleep(2 * time.Second)
	stuck := activeRestores(rds)
	t.Logf("killed the first worker with %d of %d locks restored; its batches left active: %v", done, toRestore, stuck)
	if len(stuck) == 0 {
		t.Fatal("the killed worker left no restore batch active: the kill missed the batches it asserts on")
	}

	want := len(sheet.candidates) + 1
	if !eventually(5*time.Minute, func() bool { return countLocks(rds) == want }) {
		t.Fatalf("%v after the kill: %d locks, want %d; restore queue: %s pending, %s active, %s retry",
			time.Since(killed), countLocks(rds), want, rds.MustDo("LLEN", "asynq:{restore}:pending"),
			rds.MustDo("LLEN", "asynq:{restore}:active"), rds.MustDo("ZCARD", "asynq:{restore}:retry"))
	}
	t.Logf("every lock back %v after the kill", time.Since(killed).Round(time.Second))
	checkLocks(t, rds, sheet, seeded)

	// The dead worker's batches run again and finish: within the lease (30 s), one recoverer
	// period (60 s) and the retry delay and forwarding (1 s + 1 s), plus slack for this box.
	const backWithin = 120 * time.Second
	if !eventually(backWithin, func() bool {
		for _, id := range stuck {
			if rds.MustDo("HGET", "asynq:{restore}:t:"+id, "state") != "completed" {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the dead worker's batches did not complete within %v of the kill", backWithin)
	}
	back := time.Since(killed)
	t.Logf("the dead worker's batches completed %v after the kill", back.Round(time.Second))
	if back < 30*time.Second {
		t.Errorf("the dead worker's batches completed %v after the kill, before their 30 s lease could expire: something else ran them", back)
	}

	// Let the queues drain, then check that each lock was written once.
	if !eventually(3*time.Minute, func() bool {
		n := 0
		for _, k := range []string{"LLEN asynq:{restore}:pending", "LLEN asynq:{restore}:active", "ZCARD asynq:{restore}:retry",
			"LLEN asynq:{reconcile}:pending", "LLEN asynq:{reconcile}:active", "ZCARD asynq:{reconcile}:retry"} {
			n += atoi(rds.MustDo(strings.Fields(k)...))
		}
		return n == 0
	}) {
		t.Errorf("tasks left in the queues")
	}
	tally := tallies(t, rds)
	t.Logf("restore outcomes over all runs: %v", tally)
	if r := tally["restored"]; r != toRestore {
		t.Errorf("%d restores reported restored, want exactly %d (one per written lock)", r, toRestore)
	}
	if tally["failed"] > 0 || tally["too_old"] > 0 || tally["holder_mismatch"] > 0 {
		t.Errorf("restores failed or refused: %v", tally)
	}
	// Each stale restore (the dead worker's, recovered late) must have led to a fresh look.
	if tally["stale_snapshot"] > 0 {
		looks := 0
		for _, rec := range logLines(second.Stderr.String(), "reconcile finished") {
			if rec["trigger"] == "stale-restore" {
				looks++
			}
		}
		if looks == 0 {
			t.Errorf("%d stale restores and no stale-restore reconcile", tally["stale_snapshot"])
		}
		t.Logf("stale restores %d, fresh looks %d", tally["stale_snapshot"], looks)
	}
	if code := second.Wait(0); code != -1 {
		t.Fatalf("the second worker exited (code %d)", code)
	}
}

// freezeScript stops Redis for ARGV[1] ms, as DEBUG SLEEP does, but only if the list KEYS[1]
// is not empty, checked in the same atomic step. It answers the list's length.
const freezeScript = `
local n = redis.call('LLEN', KEYS[1])
if n == 0 then return 0 end
local function us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local start = us()
while us() - start < tonumber(ARGV[1]) * 1000 do end
return n`

type freezeResult struct {
	active int // restore batches active when the freeze began
	err    error
}

// freezeWhileRestoring freezes Redis for d at an instant when restore batches are active
// (trying for up to 2 min), and returns once the freeze has begun; the channel gets its result
// when Redis wakes. Checking the active list and freezing in one step means a batch that is
// active when the freeze begins cannot finish before it ends.
func freezeWhileRestoring(t *testing.T, rds *redisserver.Server, d time.Duration) <-chan freezeResult {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		res := make(chan freezeResult, 1)
		go func() {
			out, err := rds.Do("EVAL", freezeScript, "1", "asynq:{restore}:active", strconv.FormatInt(d.Milliseconds(), 10))
			res <- freezeResult{atoi(out), err}
		}()
		select {
		case r := <-res: // the list was empty: no freeze
			if r.err != nil {
				t.Fatalf("freeze Redis: %v", r.err)
			}
		case <-time.After(d / 6): // a call that did not freeze answers in far less
			return res
		}
	}
	t.Fatal("no restore batch was active in 2 min")
	return nil
}

// activeRestores is the ids in the restore queue's active list.
func activeRestores(rds *redisserver.Server) []string {
	var ids []string
	for _, id := range strings.Split(rds.MustDo("LRANGE", "asynq:{restore}:active", "0", "-1"), "\n") {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
