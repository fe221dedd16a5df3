package tests

import (
	"strings"
	"testing"
	"time"

	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// TestRedisRestartEmptyRestoresLocks: kill -9 the redis-server and start it empty on the same
// port; every fresh lock comes back with no manual action and the worker never exits.
func TestRedisRestartEmptyRestoresLocks(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 500, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off",
	}
	w := startWorker(t, env)
	want := len(sheet.candidates)
	if !eventually(30*time.Second, func() bool { return countLocks(rds) == want }) {
		t.Fatalf("boot reconcile restored %d locks, want %d", countLocks(rds), want)
	}

	for round := 1; round <= 2; round++ {
		rds.Restart()
		if n := countLocks(rds); n != 0 {
			t.Fatalf("round %d: the restarted Redis is not empty: %d locks", round, n)
		}
		if !eventually(30*time.Second, func() bool { return countLocks(rds) == want }) {
			t.Fatalf("round %d: after the restart %d locks are back, want %d", round, countLocks(rds), want)
		}
		if code := w.Wait(0); code != -1 {
			t.Fatalf("round %d: the worker exited (code %d) when Redis restarted", round, code)
		}
		// asynq's queue registry is back, so asynqmon lists the queues.
		if !eventually(5*time.Second, func() bool {
			q, _ := rds.Do("SMEMBERS", "asynq:queues")
			return containsLine(q, "reconcile") && containsLine(q, "restore")
		}) {
			t.Fatalf("round %d: asynq:queues not re-registered", round)
		}
	}
	if got := len(logLines(w.Stderr.String(), "Redis lost its data; reconciling everything")); got < 2 {
		t.Errorf("restart detections logged: %d, want at least 2", got)
	}
}

// TestRedisDownAtBootRecovers: the worker starts while Redis is down, keeps running (no
// crash loop), /readyz says 503, and once Redis is up it reconciles on its own.
func TestRedisDownAtBootRecovers(t *testing.T) {
	now := time.Now()
	sheet := buildSheet(t, 200, now)
	rds := redisserver.Start(t)
	rds.Kill()
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off",
	}
	w := startWorker(t, env)
	if code := w.get("/readyz"); code != 503 {
		t.Fatalf("/readyz with Redis down: %d, want 503", code)
	}
	time.Sleep(3 * time.Second)
	if code := w.Wait(0); code != -1 {
		t.Fatalf("the worker exited (code %d) while Redis was down", code)
	}
	rds.Restart()
	if !eventually(45*time.Second, func() bool { return countLocks(rds) == len(sheet.candidates) }) {
		t.Fatalf("after Redis came up: %d locks, want %d", countLocks(rds), len(sheet.candidates))
	}
	if !eventually(5*time.Second, func() bool { return w.get("/readyz") == 200 }) {
		t.Fatalf("/readyz stayed unready after Redis came back")
	}
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
