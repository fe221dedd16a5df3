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
	// Retrigger, when set, gets a stale_snapshot restore's spool for a fresh look, and every
	// restored spool for its verifying look RELEASE_SETTLE + 1 s later (nil: both wait for
	// the next reconcile).
	Retrigger Retrigger
}

// ProcessTask implements asynq.Handler for lock:restore.
func (r *Restorer) ProcessTask(ctx context.Context, task *asynq.Task) error {
	p, err := DecodeRestorePayload(task.Payload())
	if err != nil {
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	// No process clock here: the restore step decides on the shared Clock (Redis TIME).
	outcome, err := r.Locks.Restore(ctx, RestoreRequest{
		Tag: p.Tag, WorkerID: p.WorkerID, OccupiedAt: p.OccupiedAt, SnapshotAt: p.SnapshotAt,
		MaxAge: r.Rules.MaxLockAge, Staleness: r.Staleness, Settle: r.Settle,
		RunID: p.RunID, Trigger: p.Trigger, // counted against its run, and recorded, in the same step
	})
	if err != nil {
		return fmt.Errorf("restore lock of %q: %w", p.Tag, err)
	}
	r.observer().RestoreFinished(outcome)
	r.logSpool(ctx, p, outcome)
	switch outcome {
	case OutcomeStaleSnapshot:
		if p.Trigger != TriggerStaleRestore {
			r.askFreshLook(ctx, p.RunID, p.Tag)
		}
	case OutcomeRestored:
		r.VerifyLater(ctx, p.RunID, p.Tag)
	case OutcomeRecentlyReleased:
		r.lookAfterSettle(ctx, p.RunID, p.Tag)
	}
	if body, err := json.Marshal(RestoreResult{Tag: p.Tag, Outcome: outcome, RunID: p.RunID}); err == nil {
		if w := task.ResultWriter(); w != nil {
			_, _ = w.Write(body)
		}
	}
	return nil
}

// VerifyLater asks for the verifying look at restored spools: RELEASE_SETTLE + 1 s later a
// fresh snapshot is past any lag of the sheet, and a lock it does not back is taken back (see
// Plan.Judge). Looks due together are coalesced into one run. The restore marker the script
// wrote lets a full reconcile do the same when this process loses its timer.
func (r *Restorer) VerifyLater(ctx context.Context, runID string, tags ...string) {
	r.lookAfter(ctx, TriggerVerify, "ask for the verifying look at restored spools", runID, tags)
}

// lookAfterSettle asks for a look at spools whose restores were refused as recently released,
// once RELEASE_SETTLE has passed from now (so past the tombstone's window): if the sheet still
// says taken then, the backend failed to clear it and the lock comes back. The keyspace watcher
// asks for the same look when it records the DEL, but that look's restore is deduplicated
// against a restore of the same occupation still queued from before the window ended, which is
// then refused too; this look comes after that refusal. Looks due together are coalesced with
// the watcher's (same trigger).
func (r *Restorer) lookAfterSettle(ctx context.Context, runID string, tags ...string) {
	r.lookAfter(ctx, TriggerKeyspace, "ask for a look after the release window", runID, tags)
}

// lookAfter asks for a targeted look at tags RELEASE_SETTLE + 1 s from now. The wait is
// measured on this process's clock (it only says when to look; the look decides on Redis
// time), and the look outlives this task, so its context must not end with the task.
func (r *Restorer) lookAfter(ctx context.Context, trigger, what, runID string, tags []string) {
	if r.Retrigger == nil || len(tags) == 0 {
		return
	}
	at := time.Now().Add(r.Settle + time.Second)
	if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), trigger, at, tags...); err != nil {
		r.log().Warn(what, "spools", len(tags), "first_tag", tags[0], "run_id", runID, "err", err)
	}
}

// HandleError is the server's asynq.ErrorHandler: when a restore has used up its retries it
// is counted as failed against its run, so `enqueue --wait` ends instead of waiting forever.
func (r *Restorer) HandleError(ctx context.Context, task *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	r.log().Error("task failed", "type", task.Type(), "retried", retried, "max_retry", maxRetry, "err", err)
	if retried < maxRetry {
		return
	}
	runID, locks := restoresOf(task)
	if runID == "" || locks == 0 {
		return
	}
	if err := r.Runs.AddTally(context.WithoutCancel(ctx), runID, TallyFailed, int64(locks)); err != nil {
		r.log().Warn("count failed restores", "type", task.Type(), "locks", locks, "run_id", runID, "err", err)
	}
}

// restoresOf is the run and number of locks of a restore task (0 for another task): a batch
// that failed for good failed all its locks, since its one script call decides all or none.
func restoresOf(task *asynq.Task) (runID string, locks int) {
	switch task.Type() {
	case TypeRestore:
		if p, err := DecodeRestorePayload(task.Payload()); err == nil {
			return p.RunID, 1
		}
	case TypeRestoreBatch:
		if p, err := DecodeRestoreBatchPayload(task.Payload()); err == nil {
			return p.RunID, len(p.Spools)
		}
	}
	return "", 0
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
