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
	// Retrigger, when set, gets a stale_snapshot restore's spool for a fresh look (nil: it
	// waits for the next reconcile).
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
		RunID: p.RunID, // the outcome is counted against its run in the same step
	})
	if err != nil {
		return fmt.Errorf("restore lock of %q: %w", p.Tag, err)
	}
	r.observer().RestoreFinished(outcome)
	r.logSpool(ctx, p, outcome)
	if outcome == OutcomeStaleSnapshot && p.Trigger != TriggerStaleRestore {
		r.askFreshLook(ctx, p.RunID, p.Tag)
	}
	if body, err := json.Marshal(RestoreResult{Tag: p.Tag, Outcome: outcome, RunID: p.RunID}); err == nil {
		if w := task.ResultWriter(); w != nil {
			_, _ = w.Write(body)
		}
	}
	return nil
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
