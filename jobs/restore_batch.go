package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// ProcessBatch handles lock:restore-batch: one LockStore.RestoreBatch call decides every spool
// of the batch on its own, as lock:restore would. It logs one line for the batch and one for
// each spool that was not restored, counts every lock in the metrics, and writes every spool's
// outcome as the task result.
func (r *Restorer) ProcessBatch(ctx context.Context, task *asynq.Task) error {
	p, err := DecodeRestoreBatchPayload(task.Payload())
	if err != nil {
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	if len(p.Spools) == 0 {
		return fmt.Errorf("restore batch of run %q has no spools: %w", p.RunID, asynq.SkipRetry)
	}
	reqs := make([]RestoreRequest, len(p.Spools))
	for i, s := range p.Spools {
		reqs[i] = RestoreRequest{
			Tag: s.Tag, WorkerID: s.WorkerID, OccupiedAt: s.OccupiedAt, SnapshotAt: p.SnapshotAt,
			MaxAge: r.Rules.MaxLockAge, Staleness: r.Staleness, Settle: r.Settle,
			RunID: p.RunID, Trigger: p.Trigger, // counted against its run, and recorded, in the same step
		}
	}
	began := time.Now()
	outcomes, err := r.Locks.RestoreBatch(ctx, reqs)
	took := time.Since(began)
	if err != nil {
		return fmt.Errorf("restore batch of %d spools of run %q: %w", len(reqs), p.RunID, err)
	}
	res := RestoreBatchResult{RunID: p.RunID, Outcomes: map[RestoreOutcome]int{}, Spools: map[RestoreOutcome][]string{}}
	for i, outcome := range outcomes {
		s := p.Spools[i]
		r.observer().RestoreFinished(outcome)
		res.Outcomes[outcome]++
		res.Spools[outcome] = append(res.Spools[outcome], s.Tag)
		if outcome != OutcomeRestored {
			r.logSpool(ctx, RestorePayload{Tag: s.Tag, Holder: s.Holder, Row: s.Row, RunID: p.RunID,
				Trigger: p.Trigger, SnapshotAt: p.SnapshotAt}, outcome)
		}
	}
	r.log().Info("restore batch", "run_id", p.RunID, "trigger", p.Trigger, "locks", len(p.Spools),
		"restored", res.Outcomes[OutcomeRestored], "not_restored", len(p.Spools)-res.Outcomes[OutcomeRestored],
		"write_ms", float64(took.Microseconds())/1000)
	if stale := res.Spools[OutcomeStaleSnapshot]; len(stale) > 0 && p.Trigger != TriggerStaleRestore {
		r.askFreshLook(ctx, p.RunID, stale...)
	}
	r.VerifyLater(ctx, p.RunID, res.Spools[OutcomeRestored]...)
	r.lookAfterSettle(ctx, p.RunID, res.Spools[OutcomeRecentlyReleased]...)
	if body, err := json.Marshal(res); err == nil {
		if w := task.ResultWriter(); w != nil {
			_, _ = w.Write(body)
		}
	}
	return nil
}

// staleAgainMsg is logged for a spool refused as stale a second time: it does not ask again.
const staleAgainMsg = "restore stale again after a fresh look; the next reconcile will retry it (is RESTORE_MAX_STALENESS shorter than a sheet read plus the restore queue?)"

// logSpool is the line of one spool's restore (for a batch: of a spool not restored); a spool
// stale again after a fresh look gets the warning that it will not ask again instead.
func (r *Restorer) logSpool(ctx context.Context, p RestorePayload, outcome RestoreOutcome) {
	if outcome == OutcomeStaleSnapshot && p.Trigger == TriggerStaleRestore {
		r.log().Warn(staleAgainMsg, "tag", p.Tag, "outcome", string(outcome), "run_id", p.RunID,
			"snapshot_at", p.SnapshotAt.Format(time.RFC3339))
		return
	}
	level := slog.LevelInfo
	if outcome == OutcomeHolderMismatch {
		level = slog.LevelWarn
	}
	r.log().Log(ctx, level, "restore", "tag", p.Tag, "outcome", string(outcome), "holder", p.Holder,
		"row", p.Row, "run_id", p.RunID, "trigger", p.Trigger)
}

// askFreshLook asks for a reconcile of spools whose restores were refused as stale: the sheet
// may still say they are taken, and only a fresh snapshot can tell. Once only: restores that
// were themselves planned by such a look do not ask again (the callers check the trigger), or
// a sheet slower than RESTORE_MAX_STALENESS would have every run ask for the next one.
func (r *Restorer) askFreshLook(ctx context.Context, runID string, tags ...string) {
	if r.Retrigger == nil {
		return
	}
	if err := r.Retrigger.TriggerTags(ctx, TriggerStaleRestore, tags...); err != nil {
		r.log().Warn("ask for a fresh look at stale restores", "spools", len(tags), "first_tag", tags[0], "run_id", runID, "err", err)
	}
}
