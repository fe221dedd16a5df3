package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func candidates(n int, now time.Time) []Classified {
	out := make([]Classified, n)
	for i := range out {
		out[i] = Classified{Row: Row{Number: i + 2, Holder: "Ana (93)"}, Tag: fmt.Sprintf("SP-%04d", i),
			Class: ClassCandidate, WorkerID: 93, OccupiedAt: now.Add(-time.Hour)}
	}
	return out
}

// pendingRestores lists the restore queue's pending tasks: how many of each type, and the
// spools the batches carry.
func pendingRestores(t *testing.T, q asynqQueue) (types map[string]int, spools int) {
	t.Helper()
	tasks, err := q.inspector.ListPendingTasks(QueueRestore, asynq.PageSize(10_000))
	if err != nil {
		t.Fatal(err)
	}
	types = map[string]int{}
	for _, task := range tasks {
		types[task.Type]++
		switch task.Type {
		case TypeRestore:
			spools++
		case TypeRestoreBatch:
			p, err := DecodeRestoreBatchPayload(task.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Spools) > RestoreBatchSize || p.RunID != "run-1" {
				t.Fatalf("batch %s: %d spools of run %q", task.ID, len(p.Spools), p.RunID)
			}
			spools += len(p.Spools)
		}
	}
	return types, spools
}

// A run with at most 32 missing locks queues one lock:restore per spool; with 33 or more it
// queues batches of at most 500; the report counts locks either way, also when the same run
// (its retry) queues them again.
func TestEnqueueThresholdSinglesThenBatches(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		missing int
		want    map[string]int
	}{
		{32, map[string]int{TypeRestore: 32}},
		{33, map[string]int{TypeRestoreBatch: 1}},
		{1001, map[string]int{TypeRestoreBatch: 3}},
	} {
		t.Run(fmt.Sprint(c.missing), func(t *testing.T) {
			q, _ := newQueue(t)
			r := &Reconciler{Queue: q, Tasks: DefaultTasks}
			rep := &Report{RunID: "run-1", Trigger: TriggerRedisRestart, SnapshotAt: now}
			if err := r.enqueueRestores(context.Background(), candidates(c.missing, now), rep); err != nil {
				t.Fatal(err)
			}
			types, spools := pendingRestores(t, q)
			if fmt.Sprint(types) != fmt.Sprint(c.want) || spools != c.missing {
				t.Fatalf("queued %v carrying %d spools, want %v carrying %d", types, spools, c.want, c.missing)
			}
			if rep.Enqueued != c.missing || rep.AlreadyQueued != 0 {
				t.Fatalf("report: enqueued %d, already queued %d; want %d locks enqueued", rep.Enqueued, rep.AlreadyQueued, c.missing)
			}
			again := &Report{RunID: "run-1", Trigger: TriggerRedisRestart, SnapshotAt: now}
			if err := r.enqueueRestores(context.Background(), candidates(c.missing, now), again); err != nil {
				t.Fatal(err)
			}
			if again.Enqueued != 0 || again.AlreadyQueued != c.missing {
				t.Fatalf("the same run again: enqueued %d, already queued %d; want %d locks already queued", again.Enqueued, again.AlreadyQueued, c.missing)
			}
		})
	}
}

// A batch's TaskID belongs to its run and its spools: another run's batch of the same spools
// is not blocked by it (a batch held by a dead worker must not stop the next reconcile).
func TestRestoreBatchTaskID(t *testing.T) {
	ids := []string{"restore:a", "restore:b"}
	a, b := RestoreBatchTaskID("run-1", ids), RestoreBatchTaskID("run-2", ids)
	if a == b {
		t.Fatalf("two runs' batches share TaskID %q", a)
	}
	if c := RestoreBatchTaskID("run-1", []string{"restore:a", "restore:c"}); c == a {
		t.Fatalf("two batches of different spools share TaskID %q", a)
	}
	if again := RestoreBatchTaskID("run-1", ids); again != a {
		t.Fatalf("TaskID not stable: %q then %q", a, again)
	}
}

// A restore that fails for good counts its locks as failed against its run: one for a
// lock:restore, every spool for a batch (its one script call wrote none of them).
func TestRestoresOfCountsLocks(t *testing.T) {
	now := time.Now()
	rep := &Report{RunID: "run-9", SnapshotAt: now}
	single, err := DefaultTasks.Restore(restorePayload(candidates(1, now)[0], rep), false)
	if err != nil {
		t.Fatal(err)
	}
	spools := make([]BatchedSpool, 40)
	batch, err := DefaultTasks.RestoreBatch(RestoreBatchPayload{RunID: "run-9", Spools: spools}, []string{"restore:x"})
	if err != nil {
		t.Fatal(err)
	}
	reconcile, err := DefaultTasks.Reconcile(ReconcilePayload{Trigger: TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		task  *asynq.Task
		run   string
		locks int
	}{{single, "run-9", 1}, {batch, "run-9", 40}, {reconcile, "", 0}} {
		if run, locks := restoresOf(c.task); run != c.run || locks != c.locks {
			t.Errorf("%s: run %q, %d locks; want %q, %d", c.task.Type(), run, locks, c.run, c.locks)
		}
	}
}
