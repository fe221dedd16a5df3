package jobs

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// reconcileEnv is a Reconciler on fakes of the sheet and the lock store, with the real queue.
type reconcileEnv struct {
	r     *Reconciler
	sheet *fakeSheet
	locks *fakeLocks
	runs  *fakeRuns
	queue asynqQueue
	clock time.Time
}

func newReconcileEnv(t *testing.T) *reconcileEnv {
	t.Helper()
	q, _ := newQueue(t)
	// The shared clock and this process's clock disagree by an hour: the report must show
	// which one each field comes from.
	clock := time.Now().Truncate(time.Millisecond)
	hour := time.Hour
	e := &reconcileEnv{
		sheet: &fakeSheet{rows: []Row{
			{Number: 2, Tag: "MISSING", Holder: "MR(93)", DateState: DateValid, OccupiedAt: clock.Add(-hour)},
			{Number: 3, Tag: "LOCKED", Holder: "MR(93)", DateState: DateValid, OccupiedAt: clock.Add(-hour)},
			{Number: 4, Tag: "NODATE", Holder: "JP(7)"},
			{Number: 5, Tag: "FREE", Holder: ""},
		}},
		locks: &fakeLocks{locks: map[string]Lock{"LOCKED": {Value: "93:u:x", WorkerID: 93}}},
		runs:  &fakeRuns{},
		queue: q,
		clock: clock,
	}
	e.r = &Reconciler{Sheet: e.sheet, Locks: e.locks, Runs: e.runs, Queue: q, Rules: DefaultRules,
		Tasks: DefaultTasks, Log: quietLog(), Clock: fixedClock{clock},
		Now: func() time.Time { return time.Now().Add(hour) }}
	return e
}

// TestRunQueuesOneRestorePerMissingLock: Run reads the sheet once, queues a restore for each
// candidate without a lock, and stamps the snapshot (and the no-date lock time) with the
// shared clock; a second run finds them already queued.
func TestRunQueuesOneRestorePerMissingLock(t *testing.T) {
	e := newReconcileEnv(t)
	rep, err := e.r.Run(ctxT(t), "run-1", ReconcilePayload{Trigger: TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RunID != "run-1" || rep.Trigger != TriggerManual || rep.DryRun || rep.Rows != 4 ||
		rep.Missing != 2 || rep.Enqueued != 2 || rep.AlreadyLocked != 1 || rep.Free != 1 || rep.MissingDate != 1 {
		t.Fatalf("report %+v", rep)
	}
	if !rep.SnapshotAt.Equal(e.clock) {
		t.Fatalf("snapshot_at %v, want the shared clock's %v", rep.SnapshotAt, e.clock)
	}
	if rep.StartedAt.Before(e.clock.Add(59*time.Minute)) || rep.FinishedAt.Before(rep.StartedAt) {
		t.Fatalf("started %v finished %v: want this process's clock (an hour ahead of %v)", rep.StartedAt, rep.FinishedAt, e.clock)
	}
	if e.sheet.Reads() != 1 {
		t.Fatalf("%d sheet reads, want 1", e.sheet.Reads())
	}
	pending, err := e.queue.inspector.ListPendingTasks(QueueRestore)
	if err != nil {
		t.Fatal(err)
	}
	got := restorePayloads(t, pending)
	if len(got) != 2 {
		t.Fatalf("queued restores %v, want MISSING and NODATE", got)
	}
	m, nd := got["MISSING"], got["NODATE"]
	if m.WorkerID != 93 || !m.SnapshotAt.Equal(e.clock) || m.RunID != "run-1" || m.Row != 2 {
		t.Fatalf("MISSING restore %+v", m)
	}
	if nd.WorkerID != 7 || !nd.OccupiedAt.Equal(e.clock) {
		t.Fatalf("NODATE restore %+v: want the lock stamped with the shared clock's now", nd)
	}

	again, err := e.r.Run(ctxT(t), "run-2", ReconcilePayload{Trigger: TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	if again.Enqueued != 0 || again.AlreadyQueued != 2 {
		t.Fatalf("second run: enqueued %d, already_queued %d; want 0 and 2", again.Enqueued, again.AlreadyQueued)
	}
}

// TestRunDryRunQueuesNothing: a dry run (here a targeted one) plans and queues nothing.
func TestRunDryRunQueuesNothing(t *testing.T) {
	e := newReconcileEnv(t)
	rep, err := e.r.Run(ctxT(t), "dry", ReconcilePayload{Trigger: TriggerManual, DryRun: true, Spools: []string{"MISSING"}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Missing != 1 || rep.Enqueued != 0 {
		t.Fatalf("dry run report %+v", rep)
	}
	if pending, _ := e.queue.inspector.ListPendingTasks(QueueRestore); len(pending) != 0 {
		t.Fatalf("a dry run queued %d restores", len(pending))
	}
}

// TestProcessTaskSavesTheReport: the report is the task's result and the last report.
func TestProcessTaskSavesTheReport(t *testing.T) {
	e := newReconcileEnv(t)
	body, _ := json.Marshal(ReconcilePayload{Trigger: TriggerSchedule})
	if err := e.r.ProcessTask(ctxT(t), asynq.NewTask(TypeReconcile, body)); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(e.runs.last, &rep); err != nil || rep.Trigger != TriggerSchedule || rep.Missing != 2 {
		t.Fatalf("last report %s (%v)", e.runs.last, err)
	}
	bad := asynq.NewTask(TypeReconcile, []byte("{"))
	if err := e.r.ProcessTask(ctxT(t), bad); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("unreadable payload: %v, want SkipRetry", err)
	}
}

// TestDeferIfOverBudget: with the read budget spent a run reads nothing and queues one full
// reconcile for when the budget allows, one per window; a deferred dry run stays dry and is
// neither merged into the window's real run nor turns it dry.
func TestDeferIfOverBudget(t *testing.T) {
	e := newReconcileEnv(t)
	next := time.Now().Add(40 * time.Second).Truncate(time.Second)
	e.r.Budget = spentBudget{next: next}

	rep, err := e.r.Run(ctxT(t), "over", ReconcilePayload{Trigger: TriggerKeyspace, Spools: []string{"MISSING"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DeferredUntil == nil || !rep.DeferredUntil.Equal(next) || rep.Rows != 0 || e.sheet.Reads() != 0 {
		t.Fatalf("deferred report %+v after %d reads", rep, e.sheet.Reads())
	}
	// Another real run deferred into the same window, then a dry run.
	if _, err := e.r.Run(ctxT(t), "over-2", ReconcilePayload{Trigger: TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	dry, err := e.r.Run(ctxT(t), "dry", ReconcilePayload{Trigger: TriggerManual, DryRun: true, Spools: []string{"MISSING"}})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.DeferredUntil == nil {
		t.Fatalf("deferred dry run report %+v", dry)
	}

	scheduled, err := e.queue.inspector.ListScheduledTasks(QueueReconcile)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]ReconcilePayload{}
	for _, info := range scheduled {
		p, err := DecodeReconcilePayload(info.Payload)
		if err != nil {
			t.Fatal(err)
		}
		byID[info.ID] = p
		if !info.NextProcessAt.Equal(next) {
			t.Errorf("%s due %v, want %v", info.ID, info.NextProcessAt, next)
		}
	}
	real, ok := byID[DeferredTaskID(next, false)]
	if !ok || real.DryRun || len(real.Spools) != 0 || real.Trigger != TriggerKeyspace {
		t.Fatalf("deferred real run %+v (found %v), want one full, real run", real, ok)
	}
	dryTask, ok := byID[DeferredTaskID(next, true)]
	if !ok || !dryTask.DryRun || len(dryTask.Spools) != 0 {
		t.Fatalf("deferred dry run %+v (found %v), want a full dry run", dryTask, ok)
	}
	if len(byID) != 2 {
		t.Fatalf("scheduled reconciles %v, want one real and one dry for the window", byID)
	}
}

// TestDeferredDryRunStaysDry: the deferred dry run, when its time comes, plans and writes
// nothing.
func TestDeferredDryRunStaysDry(t *testing.T) {
	e := newReconcileEnv(t)
	next := time.Now().Add(time.Minute)
	e.r.Budget = spentBudget{next: next}
	if _, err := e.r.Run(ctxT(t), "dry", ReconcilePayload{Trigger: TriggerManual, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	info, err := e.queue.inspector.GetTaskInfo(QueueReconcile, DeferredTaskID(next, true))
	if err != nil {
		t.Fatal(err)
	}
	e.r.Budget = nil // the window has come
	body := info.Payload
	if err := e.r.ProcessTask(ctxT(t), asynq.NewTask(TypeReconcile, body)); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(e.runs.last, &rep); err != nil || !rep.DryRun || rep.Missing != 2 || rep.Enqueued != 0 {
		t.Fatalf("the deferred dry run ran as %s (%v)", e.runs.last, err)
	}
	if pending, _ := e.queue.inspector.ListPendingTasks(QueueRestore); len(pending) != 0 {
		t.Fatalf("the deferred dry run queued %d restores", len(pending))
	}
}
