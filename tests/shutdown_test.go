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

// TestSIGTERMDuringLargeReconcile: a worker gets SIGTERM while the reconcile of a 20,000-row
// sheet (4,000 fresh occupations, nearly all without a lock) is in flight. It must exit 0
// within 8 s (Railway's stop) and lose nothing: whatever it had not done is left in Redis
// for the next worker, and the next worker started afterwards restores every lock exactly as
// the sheet says, without touching the locks that were there before.
//
//   - handed back: the sheet read is slower than the shutdown window, so the reconcile task
//     is cut off and put back in its queue; the next worker runs it.
//   - drained: the read ends during the shutdown window, the reconcile completes and queues
//     its restores, which nobody takes any more; the next worker runs them.
func TestSIGTERMDuringLargeReconcile(t *testing.T) {
	cases := []struct {
		name  string
		delay time.Duration // per Sheets request; the read takes two (header, values)
		// what the first worker must leave in Redis: reconcile tasks pending and completed
		pending, completed int
		restoresPending    bool
	}{
		{name: "handed back", delay: 20 * time.Second, pending: 1, completed: 0},
		{name: "drained", delay: 500 * time.Millisecond, pending: 0, completed: 1, restoresPending: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			sheet := buildSheet(t, 20000, now)
			rds := redisserver.Start(t)
			emu := sheetsemu.Start(t)
			emu.SetSheet("Operaciones", sheet.grid)
			before := seedLocks(t, rds, sheet)

			env := map[string]string{
				"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
				"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off", "RECONCILE_DEADLINE": "30s",
				"WORKER_CONCURRENCY": "2",
				// The restores are checked after two workers came and went; the staleness
				// guard (60 s by default) is not what this test is about.
				"RESTORE_MAX_STALENESS": "10m",
				// The race detector sleeps 1 s at exit by default, on top of the shutdown being
				// measured; production binaries do not.
				"GORACE": "atexit_sleep_ms=0",
			}
			emu.SetDelay(tc.delay)
			first := startWorker(t, env)
			if !eventually(15*time.Second, func() bool { return emu.Requests() >= 1 }) {
				t.Fatalf("the boot reconcile never reached the Sheets emulator")
			}
			sent := time.Now()
			first.Signal(syscall.SIGTERM)
			t.Logf("SIGTERM sent at %s; emulator saw %d requests", sent.UTC().Format("15:04:05.000"), emu.Requests())
			code := first.Wait(8 * time.Second)
			took := time.Since(sent)
			t.Logf("SIGTERM to exit: %v (exit code %d)", took.Round(time.Millisecond), code)
			if code != 0 {
				t.Fatalf("after SIGTERM: exit code %d after %v, want 0 within 8s; stderr:\n%s",
					code, took, tail(first.Stderr.String(), 30))
			}
			if n := countLocks(rds); n != len(before) {
				t.Fatalf("the first worker restored %d locks before it stopped; the test wants the work in flight (delay too short?)", n-len(before))
			}

			// Nothing is left "active" (which only a lease expiry would recover): the work is
			// back in the queues.
			for _, q := range []string{"reconcile", "restore"} {
				if n := rds.MustDo("LLEN", "asynq:{"+q+"}:active"); n != "0" {
					t.Errorf("%d %s tasks still active after the shutdown, want 0 (handed back)", atoi(n), q)
				}
			}
			pending := atoi(rds.MustDo("LLEN", "asynq:{reconcile}:pending"))
			completed := atoi(rds.MustDo("ZCARD", "asynq:{reconcile}:completed"))
			restores := pendingRestoreLocks(t, rds) // locks, whether in single or batched tasks
			t.Logf("left for the next worker: %d reconciles pending, %d completed, restores of %d locks pending", pending, completed, restores)
			if pending != tc.pending || completed != tc.completed {
				t.Errorf("reconciles pending %d, completed %d; want %d and %d", pending, completed, tc.pending, tc.completed)
			}
			if missing := len(sheet.candidates) - 2; tc.restoresPending && restores != missing {
				t.Errorf("restores of %d locks pending, want all %d the completed reconcile queued", restores, missing)
			}
			if tc.pending > 0 && !strings.Contains(first.Stderr.String(), "Quitting worker") {
				t.Errorf("the worker did not log that it handed the reconcile back")
			}

			emu.SetDelay(0)
			env["WORKER_CONCURRENCY"] = "10"
			second := startWorker(t, env)
			want := len(sheet.candidates) + 1 // every candidate + the orphan
			if !eventually(120*time.Second, func() bool { return countLocks(rds) == want }) {
				t.Fatalf("the next worker left %d locks, want %d", countLocks(rds), want)
			}
			checkLocks(t, rds, sheet, before)
			if !eventually(30*time.Second, func() bool {
				return rds.MustDo("LLEN", "asynq:{restore}:pending") == "0" && rds.MustDo("LLEN", "asynq:{reconcile}:pending") == "0"
			}) {
				t.Errorf("tasks still pending after the next worker restored every lock")
			}
			second.Signal(syscall.SIGTERM)
			if code := second.Wait(8 * time.Second); code != 0 {
				t.Fatalf("the second worker exited %d after SIGTERM, want 0 within 8s", code)
			}
		})
	}
}

// seedLocks writes the locks that must survive: the first candidate locked by its own holder,
// the second by somebody else (with a TTL), and an orphan. It returns them by key.
func seedLocks(t *testing.T, rds *redisserver.Server, sheet spoolSheet) map[string]string {
	t.Helper()
	same, other := sheet.candidates[0], sheet.candidates[1]
	locks := map[string]string{
		"spool_lock:" + same.tag:  fmt.Sprintf("%d:11111111-1111-4111-8111-111111111111:%s", same.workerID, same.at.In(santiago).Format("02-01-2006 15:04:05")),
		"spool_lock:" + other.tag: "999:22222222-2222-4222-8222-222222222222:01-01-2026 00:00:00",
		"spool_lock:ORPHAN-1":     "7:33333333-3333-4333-8333-333333333333:01-01-2026 00:00:00",
	}
	for key, value := range locks {
		rds.MustDo("SET", key, value)
	}
	rds.MustDo("EXPIRE", "spool_lock:"+other.tag, "3600")
	return locks
}

// checkLocks: every candidate's lock holds the sheet's holder and occupation time in the
// backend's format, persistent; the seeded locks are untouched.
func checkLocks(t *testing.T, rds *redisserver.Server, sheet spoolSheet, before map[string]string) {
	t.Helper()
	const batch = 500
	bad := 0
	for i := 0; i < len(sheet.candidates); i += batch {
		part := sheet.candidates[i:min(i+batch, len(sheet.candidates))]
		keys := make([]string, len(part))
		for j, c := range part {
			keys[j] = "spool_lock:" + c.tag
		}
		values := strings.Split(rds.MustDo(append([]string{"MGET"}, keys...)...), "\n")
		if len(values) != len(keys) {
			t.Fatalf("MGET of %d keys gave %d values", len(keys), len(values))
		}
		for j, c := range part {
			if old, seeded := before[keys[j]]; seeded {
				if values[j] != old {
					t.Errorf("pre-existing lock %s was overwritten: %q, was %q", keys[j], values[j], old)
				}
				continue
			}
			m := lockValue.FindStringSubmatch(values[j])
			if m == nil || m[1] != strconv.Itoa(c.workerID) || m[2] != c.at.In(santiago).Format("02-01-2006 15:04:05") {
				if bad++; bad <= 5 {
					t.Errorf("lock of %s is %q, want worker %d at %s", c.tag, values[j], c.workerID, c.at.In(santiago).Format("02-01-2006 15:04:05"))
				}
			}
		}
	}
	if bad > 5 {
		t.Errorf("… %d wrong locks in all", bad)
	}
	for key, value := range before {
		if got := rds.MustDo("GET", key); got != value {
			t.Errorf("pre-existing lock %s is %q, was %q", key, got, value)
		}
	}
	for _, c := range sheet.candidates[2:5] {
		if ttl := rds.MustDo("PTTL", "spool_lock:"+c.tag); ttl != "-1" {
			t.Errorf("restored lock of %s has PTTL %s, want -1 (persistent)", c.tag, ttl)
		}
	}
	if ttl := atoi(rds.MustDo("TTL", "spool_lock:"+sheet.candidates[1].tag)); ttl <= 0 || ttl > 3600 {
		t.Errorf("another holder's lock lost its TTL: %d", ttl)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}
