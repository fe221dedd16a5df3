package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// Reconciler handles reconcile:run: read the sheet once, plan, push one restore per missing
// lock, report. It is level-triggered: running it any number of times, in any order, converges
// on the same locks, because every write is decided again by the atomic restore step.
type Reconciler struct {
	Sheet SheetReader
	Locks LockStore
	Runs  RunStore
	// Trust keeps the accepted snapshot and the suspect state; nil: snapshots are not judged
	// as a whole (tests of other parts only: the worker and the CLI always set it).
	Trust TrustStore
	Queue Queue // may be nil for Plan-only use
	Rules Rules
	Tasks Tasks // builds the restores and deferred reconciles this one queues
	// Settle is RELEASE_SETTLE: a restore marker is judged once the snapshot is this much
	// younger than the restore.
	Settle time.Duration
	// OrphanGrace is ORPHAN_GRACE: how long a lock must stay unbacked, with the same value,
	// before it is released; 0 means off (orphans are reported, never released).
	OrphanGrace time.Duration
	// Retrigger, when set, gets the looks at orphans' due times and at retracted spools.
	Retrigger Retrigger
	Log       *slog.Logger
	Observer  Observer
	Budget    ReadBudget // nil: no budget
	// History gets the entries of actions that are not scripts (held deletions, verified
	// restores); nil: none. Scripts (restore, delete) write their own entries.
	History HistoryWriter
	Pending PendingMarker // nil: no coalescing

	// Clock is the shared clock (Redis TIME) that stamps snapshots and is classification's
	// "now"; nil: Now (one process, tests).
	Clock Clock
	// Now is this process's clock, used only for started_at and finished_at; nil: time.Now.
	Now func() time.Time

	// EnqueueWorkers bounds concurrent enqueues (one Redis round trip each); 0 means 8.
	EnqueueWorkers int
}

// Plan reads the sheet and the locks and returns the plan, writing nothing anywhere. The
// report's run metadata is filled in except RunID and Trigger. The plan is judged as a
// schedule's look would be (see PlanAs).
func (r *Reconciler) Plan(ctx context.Context, scope Scope) (Plan, error) {
	return r.PlanAs(ctx, scope, "")
}

// PlanAs is Plan for a run of the given trigger: after the sheet, it reads the restore
// markers and orphan sightings of the locks judged and judges them (Plan.Judge).
func (r *Reconciler) PlanAs(ctx context.Context, scope Scope, trigger string) (Plan, error) {
	started := r.now()
	// Locks first, then the sheet: a lock the backend deleted before the scan has its DEL
	// well behind the snapshot by the time a restore runs, so the watcher has had the whole
	// sheet read to write the tombstone that stops a stale row from resurrecting it.
	locksReadAt := time.Now()
	locks, err := r.currentLocks(ctx, scope)
	if err != nil {
		return Plan{}, err
	}
	// The snapshot's time is the shared clock read just before the sheet request: restores and
	// tombstones compare against it on the same clock. Read before any retry of the request, it
	// is at most the read's duration early, which errs towards refusing a restore.
	snapAt, err := r.clockNow(ctx)
	if err != nil {
		return Plan{}, err
	}
	// The accepted snapshot does not depend on the sheet: it is read while the sheet request
	// is on the wire and decoded.
	accepted := r.readAccepted(ctx)
	snap, err := r.Sheet.Read(ctx)
	if err != nil {
		<-accepted
		return Plan{}, fmt.Errorf("read sheet: %w", err)
	}
	// The plan and the snapshot's occupations (for the trust verdict) are two passes over the
	// same rows, neither writing them: they run side by side.
	occupations := make(chan map[string]string, 1)
	if r.Trust != nil {
		go func() { occupations <- Occupations(snap.Rows) }()
	} else {
		occupations <- nil
	}
	plan := MakePlan(snap.Rows, locks, snapAt, r.Rules, scope)
	plan.locksReadAt = locksReadAt
	plan.Report.Spools = scope
	plan.Report.StartedAt = started
	plan.Report.SnapshotAt = snapAt
	plan.Report.SheetsRequests = snap.Requests
	if err := r.judgeTrust(ctx, &plan, <-occupations, <-accepted, locks, scope); err != nil {
		return Plan{}, err
	}
	if err := r.judge(ctx, &plan, scope, trigger); err != nil {
		return Plan{}, err
	}
	return plan, nil
}

// acceptedRead is the accepted snapshot as read, or why it could not be.
type acceptedRead struct {
	accepted Accepted
	err      error
}

// readAccepted starts reading the accepted snapshot (none without a TrustStore); the channel
// gets the one answer.
func (r *Reconciler) readAccepted(ctx context.Context) <-chan acceptedRead {
	out := make(chan acceptedRead, 1)
	if r.Trust == nil {
		out <- acceptedRead{}
		return out
	}
	go func() {
		a, err := r.Trust.Accepted(ctx)
		out <- acceptedRead{a, err}
	}()
	return out
}

// judgeTrust judges the snapshot as a whole (its occupations, over every row whatever the
// scope) against the accepted one (JudgeTrust). The locks are counted only when the verdict
// can depend on it: nothing valid accepted and no occupation in the sheet; a full run has
// them all already, a targeted one counts the keys.
func (r *Reconciler) judgeTrust(ctx context.Context, plan *Plan, occ map[string]string, read acceptedRead, locks map[string]Lock, scope Scope) error {
	if r.Trust == nil {
		return nil
	}
	if read.err != nil {
		return fmt.Errorf("read the accepted snapshot: %w", read.err)
	}
	accepted := read.accepted
	at := plan.Report.SnapshotAt
	n := -1
	var err error
	switch {
	case scope.full():
		n = len(locks)
	case len(occ) == 0 && !accepted.Valid(at):
		if n, err = r.Locks.CountLocks(ctx); err != nil {
			return fmt.Errorf("count locks to judge an empty sheet: %w", err)
		}
	}
	v := JudgeTrust(TrustInput{Snapshot: occ, Accepted: accepted, Locks: n, Now: at})
	plan.Trust, plan.occupations, plan.accepted = v, occ, accepted
	if v.Suspect {
		plan.Report.SheetSuspect, plan.Report.SuspectReason, plan.Report.SuspectExamples = true, v.Reason, v.Examples
	}
	return nil
}

// AcceptSnapshot makes the plan's snapshot the accepted one and ends the suspect state if
// there was one, logging the end once across replicas. A snapshot whose occupations are the
// accepted ones read (most runs) only stamps the judgement; another is stored whole.
// `reconciler accept-sheet --yes` calls it for a suspect snapshot; every real run whose
// snapshot is sane calls it while it queues its restores.
func (r *Reconciler) AcceptSnapshot(ctx context.Context, plan *Plan) error {
	if r.Trust == nil {
		return nil
	}
	at := plan.Report.SnapshotAt
	if a := plan.accepted; a.Present && !a.Migrate && SameOccupations(a.Occupations, plan.occupations) {
		if err := r.Trust.Judged(ctx, at); err != nil {
			return fmt.Errorf("stamp the accepted snapshot: %w", err)
		}
	} else if err := r.Trust.Accept(ctx, plan.occupations, at); err != nil {
		return fmt.Errorf("store the accepted snapshot: %w", err)
	}
	st, ended, err := r.Trust.ClearSuspect(ctx)
	if err != nil {
		return fmt.Errorf("end the suspect state: %w", err)
	}
	if ended {
		r.log().Warn("sheet trusted again: runs write again", "run_id", plan.Report.RunID, "trigger", plan.Report.Trigger,
			"suspect_since", st.Since.Format(time.RFC3339), "suspect_for", plan.Report.SnapshotAt.Sub(st.Since).Round(time.Second).String(),
			"occupations", len(plan.occupations))
	}
	return nil
}

// holdSuspect is a real run's answer to a suspect snapshot: it writes no lock and no
// bookkeeping, records the suspect state (the one process that begins it logs it), stamps the
// judgement so that the accepted snapshot does not age out while the sheet is wrong, and
// appends a `held` history entry for each write it did not make.
func (r *Reconciler) holdSuspect(ctx context.Context, plan *Plan) {
	rep := &plan.Report
	if r.Trust == nil {
		return
	}
	began, err := r.Trust.SetSuspect(ctx, SuspectState{Since: rep.SnapshotAt, Reason: rep.SuspectReason, Examples: rep.SuspectExamples})
	if err != nil {
		r.log().Warn("record the suspect state", "run_id", rep.RunID, "err", err)
	}
	if began {
		r.log().Warn("sheet suspect: nothing is written (no restore, no retraction, no release) until the sheet is "+
			"put right or accepted with reconciler accept-sheet", "run_id", rep.RunID, "trigger", rep.Trigger,
			"reason", rep.SuspectReason, "examples", rep.SuspectExamples)
	}
	if err := r.Trust.Judged(ctx, rep.SnapshotAt); err != nil {
		r.log().Warn("stamp the judgement", "run_id", rep.RunID, "err", err)
	}
	r.recordHeld(ctx, plan)
}

// judge reads what the judgement needs (one round trip each, none when there is nothing to
// read) and judges the plan.
func (r *Reconciler) judge(ctx context.Context, plan *Plan, scope Scope, trigger string) error {
	markers, err := r.Locks.Markers(ctx, plan.MarkerTags(scope))
	if err != nil {
		return fmt.Errorf("read restore markers: %w", err)
	}
	var sightingTags []string // nil: all of them
	if !scope.full() {
		sightingTags = scope
	}
	sightings, err := r.Locks.OrphanSightings(ctx, sightingTags)
	if err != nil {
		return fmt.Errorf("read orphan sightings: %w", err)
	}
	plan.Judge(JudgeInput{
		SnapshotAt: plan.Report.SnapshotAt, Settle: r.Settle, Grace: r.OrphanGrace,
		Markers: markers, Sightings: sightings, Early: trigger == TriggerOrphan,
	}, scope)
	return nil
}

// currentLocks reads every lock for a full scope (orphans need them all) and only the scope's
// tags otherwise.
func (r *Reconciler) currentLocks(ctx context.Context, scope Scope) (map[string]Lock, error) {
	if scope.full() {
		locks, err := r.Locks.AllLocks(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan locks: %w", err)
		}
		return locks, nil
	}
	locks, err := r.Locks.Locks(ctx, scope)
	if err != nil {
		return nil, fmt.Errorf("read locks of %d spools: %w", len(scope), err)
	}
	return locks, nil
}

// ProcessTask implements asynq.Handler for reconcile:run.
func (r *Reconciler) ProcessTask(ctx context.Context, task *asynq.Task) error {
	p, err := DecodeReconcilePayload(task.Payload())
	if err != nil {
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	runID, ok := asynq.GetTaskID(ctx)
	if !ok {
		runID = uuid.NewString()
	}
	started := time.Now()
	// Only a real full run covers the triggers its mark stands for: a dry run restores nothing.
	if len(p.Spools) == 0 && !p.DryRun && r.Pending != nil {
		if err := r.Pending.ClearPending(ctx); err != nil {
			r.log().Warn("clear pending reconcile mark", "run_id", runID, "err", err)
		}
	}
	report, err := r.Run(ctx, runID, p)
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
		r.log().Error("reconcile failed", "run_id", runID, "trigger", p.Trigger, "err", err)
	case report.DeferredUntil != nil:
		outcome = "deferred"
	}
	r.observer().RunFinished(p.Trigger, outcome, time.Since(started), report)
	if err != nil {
		return err
	}
	body, err := json.Marshal(report)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if w := task.ResultWriter(); w != nil {
		if _, err := w.Write(body); err != nil {
			r.log().Warn("write report as task result", "run_id", runID, "err", err)
		}
	}
	if report.DeferredUntil != nil {
		return nil // the last report stays the last one that read the sheet
	}
	if err := r.Runs.SaveReport(ctx, body); err != nil {
		r.log().Warn("save last report", "run_id", runID, "err", err)
	}
	return nil
}

// Run is one reconcile: plan, then act on the plan unless it is a dry run. On error the report
// so far is returned too (nil if the plan itself failed).
func (r *Reconciler) Run(ctx context.Context, runID string, p ReconcilePayload) (*Report, error) {
	if deferred, err := r.deferIfOverBudget(ctx, runID, p); deferred != nil || err != nil {
		return deferred, err
	}
	plan, err := r.PlanAs(ctx, Scope(p.Spools), p.Trigger)
	if err != nil {
		return nil, err
	}
	rep := &plan.Report
	rep.RunID, rep.Trigger, rep.DryRun = runID, p.Trigger, p.DryRun
	switch {
	case p.DryRun:
		// judged and reported; nothing written, not even the trust state
	case plan.Trust.Suspect:
		r.holdSuspect(ctx, &plan)
	default:
		// Storing the accepted snapshot (every occupation after a Redis that came back empty;
		// a stamp when nothing changed) and queueing the restores are independent writes: the
		// restores do not wait for it. A failure of either fails the run, whose retry plans
		// again.
		accepted := make(chan error, 1)
		go func() { accepted <- r.AcceptSnapshot(ctx, &plan) }()
		err := r.enqueueRestores(ctx, plan.Restores, rep)
		if aerr := <-accepted; err == nil {
			err = aerr
		}
		if err != nil {
			return rep, err
		}
		r.actOnJudgement(ctx, &plan)
	}
	rep.FinishedAt = r.now()
	r.logReport(rep)
	return rep, nil
}

// deferIfOverBudget takes one read from the cluster-wide budget. When it is spent the run does
// not read: it queues one full reconcile for when the budget allows (one per window, however
// many runs are deferred into it, and a full run covers any targeted one) and reports that.
// A dry run stays dry: it is deferred as a full dry run with its own TaskID, so it is never
// merged into (or turned into) the window's real run, and a real run is never made dry.
func (r *Reconciler) deferIfOverBudget(ctx context.Context, runID string, p ReconcilePayload) (*Report, error) {
	if r.Budget == nil {
		return nil, nil
	}
	ok, next, err := r.Budget.Take(ctx)
	if err != nil {
		return nil, fmt.Errorf("take a Sheets read from the budget: %w", err)
	}
	if ok {
		return nil, nil
	}
	now := r.now()
	rep := &Report{RunID: runID, Trigger: p.Trigger, Spools: p.Spools, DryRun: p.DryRun,
		StartedAt: now, FinishedAt: now, DeferredUntil: &next}
	task, err := r.Tasks.Reconcile(ReconcilePayload{Trigger: p.Trigger, DryRun: p.DryRun}, asynq.ProcessAt(next),
		asynq.TaskID(DeferredTaskID(next, p.DryRun)))
	if err != nil {
		return nil, err
	}
	if _, err := r.Queue.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil, fmt.Errorf("queue the deferred reconcile: %w", err)
	}
	r.log().Warn("Sheets read budget spent; reconcile deferred", "run_id", runID, "trigger", p.Trigger,
		"dry_run", p.DryRun, "until", next.Format(time.RFC3339))
	return rep, nil
}

// enqueueRestores pushes the restores, several at a time: one task per missing lock when a run
// has at most MaxSingleRestores, batches of RestoreBatchSize otherwise (restoreUnits). Tasks
// already queued stay queued when the deadline cuts the run short; the retry queues the rest.
// Enqueued and AlreadyQueued count locks, not tasks.
func (r *Reconciler) enqueueRestores(ctx context.Context, restores []Classified, rep *Report) error {
	units := r.restoreUnits(restores, rep)
	workers := r.EnqueueWorkers
	if workers <= 0 {
		workers = 8
	}
	work := make(chan restoreUnit)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(workers, len(units)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				res, err := u.enqueue(ctx)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
				case err == nil && res == enqueued:
					rep.Enqueued += u.locks
				case err == nil:
					rep.AlreadyQueued += u.locks
				}
				mu.Unlock()
			}
		}()
	}
	for _, u := range units {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		work <- u
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("enqueue restores: %w", ctx.Err())
	}
	return firstErr
}

func (r *Reconciler) enqueueOne(ctx context.Context, c Classified, rep *Report) (enqueueResult, error) {
	p := restorePayload(c, rep)
	task, err := r.Tasks.Restore(p, c.Warning == WarnMissingDate)
	if err != nil {
		return 0, err
	}
	return enqueueRestore(ctx, r.Queue, task, RestoreTaskID(p, c.Warning == WarnMissingDate))
}

func (r *Reconciler) logReport(rep *Report) {
	attrs := []any{"run_id", rep.RunID, "trigger", rep.Trigger, "dry_run", rep.DryRun, "rows", rep.Rows}
	for _, c := range rep.Counts() {
		attrs = append(attrs, c.Name, c.Value)
	}
	attrs = append(attrs, "sheet_suspect", rep.SheetSuspect)
	attrs = append(attrs, "problems", rep.ProblemsTotal, "sheets_requests", rep.SheetsRequests,
		"took_ms", rep.FinishedAt.Sub(rep.StartedAt).Milliseconds())
	r.log().Info("reconcile finished", attrs...)
}

// clockNow reads the shared clock (Redis TIME), or the process clock when there is none.
func (r *Reconciler) clockNow(ctx context.Context) (time.Time, error) {
	if r.Clock == nil {
		return r.now(), nil
	}
	t, err := r.Clock.Now(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the shared clock: %w", err)
	}
	return t, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Reconciler) observer() Observer {
	if r.Observer != nil {
		return r.Observer
	}
	return noObserver{}
}
