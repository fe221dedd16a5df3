package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// TallyFailed is the tally field counting restores that failed for good (retries exhausted).
const TallyFailed = "failed"

// Restorer handles lock:restore: one atomic decide-and-write per task, so running a restore
// twice, late, or next to the backend never overwrites a lock.
type Restorer struct {
	Locks     LockStore
	Runs      RunStore
	Rules     Rules
	Staleness time.Duration // RESTORE_MAX_STALENESS
	Settle    time.Duration // RELEASE_SETTLE
	Log       *slog.Logger
	Observer  Observer
	Now       func() time.Time
	// Retrigger, when set, gets a stale_snapshot restore's spool for a fresh look, and every
	// restored spool for its verifying look RELEASE_SETTLE + 1 s later (nil: both wait for
	// the next reconcile).
	Retrigger Retrigger
}

// ProcessTask implements asynq.Handler for lock:restore.
func (r *Restorer) ProcessTask(ctx context.Context, task *asynq.Task) error {
	var p RestorePayload
	if err := json.Unmarshal(task.Payload(), &p); err != nil {
		return fmt.Errorf("decode restore payload: %v: %w", err, asynq.SkipRetry)
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	outcome, err := r.Locks.Restore(ctx, RestoreRequest{
		Tag: p.Tag, WorkerID: p.WorkerID, OccupiedAt: p.OccupiedAt, SnapshotAt: p.SnapshotAt,
		Now: now, MaxAge: r.Rules.MaxLockAge, Staleness: r.Staleness, Settle: r.Settle,
		RunID: p.RunID, // the outcome is counted against its run in the same step
	})
	if err != nil {
		return fmt.Errorf("restore lock of %q: %w", p.Tag, err)
	}
	r.observer().RestoreFinished(outcome)
	level := slog.LevelInfo
	if outcome == OutcomeHolderMismatch {
		level = slog.LevelWarn
	}
	r.log().Log(ctx, level, "restore", "tag", p.Tag, "outcome", string(outcome), "holder", p.Holder,
		"row", p.Row, "run_id", p.RunID, "trigger", p.Trigger)
	switch outcome {
	case OutcomeStaleSnapshot:
		r.lookAgain(ctx, p)
	case OutcomeRestored:
		r.VerifyLater(ctx, now, p.Tag)
	case OutcomeRecentlyReleased:
		r.lookAfterSettle(ctx, p)
	}
	if body, err := json.Marshal(RestoreResult{Tag: p.Tag, Outcome: outcome, RunID: p.RunID}); err == nil {
		if w := task.ResultWriter(); w != nil {
			_, _ = w.Write(body)
		}
	}
	return nil
}

// lookAgain asks for a reconcile of a spool whose restore was refused as stale: the sheet may
// still say it is taken, and only a fresh snapshot can tell. Once only: a restore that was
// itself planned by such a look does not ask again, or a sheet slower than
// RESTORE_MAX_STALENESS would have every run ask for the next one.
func (r *Restorer) lookAgain(ctx context.Context, p RestorePayload) {
	if r.Retrigger == nil {
		return
	}
	if p.Trigger == TriggerStaleRestore {
		r.log().Warn("restore stale again after a fresh look; the next reconcile will retry it (is RESTORE_MAX_STALENESS shorter than a sheet read plus the restore queue?)",
			"tag", p.Tag, "run_id", p.RunID, "snapshot_at", p.SnapshotAt.Format(time.RFC3339))
		return
	}
	if err := r.Retrigger.TriggerTags(ctx, TriggerStaleRestore, p.Tag); err != nil {
		r.log().Warn("ask for a fresh look at a stale restore", "tag", p.Tag, "run_id", p.RunID, "err", err)
	}
}

// VerifyLater asks for the verifying look at spools restored at restoredAt: RELEASE_SETTLE +
// 1 s later a fresh snapshot is past any lag of the sheet, and a lock it does not back is taken
// back (see Plan.Judge). Looks due together are coalesced into one run. The restore marker the
// script wrote lets a full reconcile do the same when this process loses its timer.
func (r *Restorer) VerifyLater(ctx context.Context, restoredAt time.Time, tags ...string) {
	if r.Retrigger == nil || len(tags) == 0 {
		return
	}
	// The wait is measured from this process's clock: the look must come RELEASE_SETTLE + 1 s
	// after the restore whatever clock stamped the marker.
	at := time.Now().Add(r.Settle + time.Second)
	// The look outlives this task: its context must not end with the task.
	if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), TriggerVerify, at, tags...); err != nil {
		r.log().Warn("ask for the verifying look at restored spools", "spools", tags, "restored_at",
			restoredAt.Format(time.RFC3339), "err", err)
	}
}

// lookAfterSettle asks for a look at a spool whose restore was refused as recently released,
// once RELEASE_SETTLE has passed from now (so past the tombstone's window): if the sheet still
// says taken then, the backend failed to clear it and the lock comes back. The keyspace watcher
// asks for the same look when it records the DEL, but that look's restore is deduplicated
// against a restore of the same occupation still queued from before the window ended, which is
// then refused too; this look comes after that refusal. Looks due together are coalesced with
// the watcher's (same trigger).
func (r *Restorer) lookAfterSettle(ctx context.Context, p RestorePayload) {
	if r.Retrigger == nil {
		return
	}
	at := time.Now().Add(r.Settle + time.Second)
	if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), TriggerKeyspace, at, p.Tag); err != nil {
		r.log().Warn("ask for a look after the release window", "tag", p.Tag, "run_id", p.RunID, "err", err)
	}
}

// HandleError is the server's asynq.ErrorHandler: when a restore has used up its retries it
// is counted as failed against its run, so `enqueue --wait` ends instead of waiting forever.
func (r *Restorer) HandleError(ctx context.Context, task *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	r.log().Error("task failed", "type", task.Type(), "retried", retried, "max_retry", maxRetry, "err", err)
	if task.Type() != TypeRestore || retried < maxRetry {
		return
	}
	var p RestorePayload
	if json.Unmarshal(task.Payload(), &p) != nil || p.RunID == "" {
		return
	}
	if err := r.Runs.AddTally(context.WithoutCancel(ctx), p.RunID, TallyFailed, 1); err != nil {
		r.log().Warn("count failed restore", "tag", p.Tag, "run_id", p.RunID, "err", err)
	}
}

func (r *Restorer) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Restorer) observer() Observer {
	if r.Observer != nil {
		return r.Observer
	}
	return noObserver{}
}
