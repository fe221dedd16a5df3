package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"reconciler/jobs"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// restoreTaskTypes counts the tasks of each type the restore queue holds in any state asynq
// keeps a task hash for (pending, active, completed, ...).
func restoreTaskTypes(t *testing.T, rds *redisserver.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	keys, err := rds.Do("KEYS", "asynq:{restore}:t:*")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range strings.Split(keys, "\n") {
		if k == "" {
			continue
		}
		msg := rds.MustDo("HGET", k, "msg")
		switch {
		case strings.Contains(msg, "lock:restore-batch"):
			out["lock:restore-batch"]++
		case strings.Contains(msg, "lock:restore"):
			out["lock:restore"]++
		}
	}
	return out
}

// With more than 32 locks missing a run queues batches, and `enqueue --wait` still ends with
// the tally of every lock: it compares the locks counted with the locks enqueued. A batch's
// asynq result lists every spool's outcome.
func TestEnqueueWaitCountsBatchedLocks(t *testing.T) {
	sheet := buildSheet(t, 400, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	env := faultEnv(rds, emu, map[string]string{"RECONCILE_DEADLINE": "30s"})
	startWorker(t, env)
	want := len(sheet.candidates)
	if want <= 32 {
		t.Fatalf("the sheet has %d candidates; the test needs more than 32", want)
	}
	if !eventually(30*time.Second, func() bool { return countLocks(rds) == want }) {
		t.Fatalf("boot: %d locks, want %d", countLocks(rds), want)
	}
	if types := restoreTaskTypes(t, rds); types["lock:restore"] != 0 || types["lock:restore-batch"] != 1 {
		t.Fatalf("boot queued %v, want one lock:restore-batch and no single restores for %d locks", types, want)
	}

	for _, c := range sheet.candidates {
		rds.MustDo("DEL", "spool_lock:"+c.tag)
	}
	out, errOut, code := cli(t, env, "enqueue", "--wait")
	if code != 0 {
		t.Fatalf("enqueue --wait: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	line := fmt.Sprintf("restores: restored %d, already_locked 0", want)
	if !strings.Contains(out, line) || !strings.Contains(out, fmt.Sprintf("missing %d, enqueued %d", want, want)) {
		t.Fatalf("enqueue --wait: want %q and %d enqueued (locks, not tasks) in:\n%s", line, want, out)
	}
	if n := countLocks(rds); n != want {
		t.Fatalf("%d locks after enqueue --wait, want %d", n, want)
	}

	// Every spool's outcome is in the batches' results.
	restored := map[string]bool{}
	keys, _ := rds.Do("KEYS", "asynq:{restore}:t:*")
	for _, k := range strings.Split(keys, "\n") {
		if k == "" || !strings.Contains(rds.MustDo("HGET", k, "msg"), "lock:restore-batch") {
			continue
		}
		var res struct {
			Spools map[string][]string `json:"spools"`
		}
		if err := json.Unmarshal([]byte(rds.MustDo("HGET", k, "result")), &res); err != nil {
			t.Fatalf("result of %s: %v", k, err)
		}
		for _, tag := range res.Spools["restored"] {
			restored[tag] = true
		}
	}
	for _, c := range sheet.candidates {
		if !restored[c.tag] {
			t.Fatalf("no batch result lists %s as restored", c.tag)
		}
	}

	// The history holds every batched restore, grouped in one entry per batch, and explain
	// and history show them per spool: the boot's and the manual run's.
	if n := rds.MustDo("XLEN", "reconciler:history"); n != "2" {
		t.Errorf("history stream: %s entries, want 2 (one per batch)", n)
	}
	last := sheet.candidates[len(sheet.candidates)-1]
	out, errOut, code = cli(t, env, "history", "--spool", last.tag, "--json")
	var hist []struct{ Tag, Action, Trigger, Value string }
	mustJSON(t, out, &hist)
	if code != 0 || len(hist) != 2 || hist[0].Trigger != "manual" || hist[1].Trigger != "boot" ||
		hist[0].Action != "restored" || hist[0].Value != rds.MustDo("GET", "spool_lock:"+last.tag) {
		t.Errorf("history of %s: exit %d %+v %s, want restored by the manual run, then by boot", last.tag, code, hist, errOut)
	}
}

// pendingRestoreLocks is the number of locks the restore queue's pending tasks carry: one per
// lock:restore, one per spool of a lock:restore-batch.
func pendingRestoreLocks(t *testing.T, rds *redisserver.Server) int {
	t.Helper()
	n := 0
	for _, id := range strings.Split(rds.MustDo("LRANGE", "asynq:{restore}:pending", "0", "-1"), "\n") {
		if id == "" {
			continue
		}
		msg := rds.MustDo("HGET", "asynq:{restore}:t:"+id, "msg")
		if strings.Contains(msg, "lock:restore-batch") {
			n += len(batchPayloadIn(t, msg).Spools)
		} else {
			n++
		}
	}
	return n
}

// batchPayloadIn decodes the restore batch payload held in an asynq task message (the JSON
// object that starts at `{"run_id"`, read up to its end).
func batchPayloadIn(t *testing.T, msg string) jobs.RestoreBatchPayload {
	t.Helper()
	start := strings.Index(msg, `{"run_id"`)
	if start < 0 {
		t.Fatalf("no batch payload in task message %q", msg)
	}
	var raw json.RawMessage
	if err := json.NewDecoder(strings.NewReader(msg[start:])).Decode(&raw); err != nil {
		t.Fatalf("batch payload in task message: %v", err)
	}
	p, err := jobs.DecodeRestoreBatchPayload(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
