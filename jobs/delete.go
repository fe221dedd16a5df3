package jobs

import (
	"context"
	"fmt"
	"time"
)

// actOnJudgement carries out a plan's judgement: the deletions (unless the safety valve holds
// them), the sightings and markers to record or drop, and the looks to ask for. A deletion or a
// bookkeeping write that fails is logged and left to the next run (every step is decided
// again from Redis and the sheet then); only a failure to count the locks fails the run.
func (r *Reconciler) actOnJudgement(ctx context.Context, plan *Plan, scope Scope) error {
	j, rep := &plan.Judgement, &plan.Report
	if n := j.Deletions(); n > 0 {
		all, err := r.lockCount(ctx, plan, scope, n)
		if err != nil {
			return err
		}
		if ValveHolds(n, all) {
			rep.DeletionsHeld, rep.HeldReason = n, ValveReason(n, all)
			r.recordHeld(ctx, j, rep)
			r.log().Warn("safety valve: nothing deleted", "run_id", rep.RunID, "trigger", rep.Trigger,
				"retractions", len(j.Retract), "orphan_releases", len(j.Release), "locks", all, "reason", rep.HeldReason)
		} else {
			r.retract(ctx, j.Retract, rep)
			r.release(ctx, j.Release, rep)
		}
	}
	if err := r.Locks.UpdateOrphans(ctx, j.Record, j.Forget); err != nil {
		r.log().Warn("update orphan sightings", "run_id", rep.RunID, "err", err)
	}
	var verified []HistoryEntry
	for tag, m := range j.DropMarkers {
		if err := r.Locks.DropMarker(ctx, tag, m); err != nil {
			r.log().Warn("drop restore marker", "run_id", rep.RunID, "tag", tag, "err", err)
			continue
		}
		if lock, ok := plan.locks[tag]; ok && lock.Value == m.Value {
			verified = append(verified, HistoryEntry{Tag: tag, Action: ActionVerified, Value: m.Value,
				RunID: rep.RunID, Trigger: rep.Trigger, Detail: "a fresh snapshot backs the restored lock"})
		}
	}
	r.appendHistory(ctx, rep, verified...)
	r.askForLooks(ctx, j.LookAt, rep)
	return nil
}

// lockCount is the valve's denominator: every lock. A full run has them all; a targeted run
// counts the lock keys only when its deletions could exceed the handful at all.
func (r *Reconciler) lockCount(ctx context.Context, plan *Plan, scope Scope, n int) (int, error) {
	if scope.full() {
		return len(plan.locks), nil
	}
	if n <= ValveHandful {
		return n, nil // a handful is always allowed: no need to count
	}
	all, err := r.Locks.CountLocks(ctx)
	if err != nil {
		return 0, fmt.Errorf("count locks for the safety valve: %w", err)
	}
	return all, nil
}

// retract takes back restored locks the fresh snapshot no longer backs. A spool whose row
// shows another occupation gets a look at once, which restores the sheet's own lock.
func (r *Reconciler) retract(ctx context.Context, rs []Retraction, rep *Report) {
	var again []string
	for _, x := range rs {
		why := "the row is free or absent"
		if x.Backing == OtherOccupation {
			why = "the row shows another occupation"
		}
		deleted, err := r.Locks.DeleteLock(ctx, x.Tag, x.Lock.Value, ActionRetracted,
			HistoryNote{RunID: rep.RunID, Trigger: rep.Trigger, Detail: "a fresh snapshot does not back the restored lock: " + why})
		switch {
		case err != nil:
			r.log().Warn("retract restored lock", "run_id", rep.RunID, "tag", x.Tag, "err", err)
			continue
		case !deleted:
			continue // changed since it was read: not ours to judge any more
		}
		rep.Retracted++
		if x.Backing == OtherOccupation {
			again = append(again, x.Tag)
		}
		r.log().Warn("restored lock retracted: a fresh snapshot no longer backs it", "run_id", rep.RunID,
			"trigger", rep.Trigger, "tag", x.Tag, "value", x.Lock.Value, "why", why,
			"restored_at", x.Marker.At.Format(time.RFC3339Nano))
	}
	if len(again) > 0 && r.Retrigger != nil {
		if err := r.Retrigger.TriggerTags(ctx, TriggerVerify, again...); err != nil {
			r.log().Warn("ask for a look at retracted spools", "run_id", rep.RunID, "spools", again, "err", err)
		}
	}
}

// release deletes orphans past the grace, each only while it holds the value judged.
func (r *Reconciler) release(ctx context.Context, orphans []Orphan, rep *Report) {
	for _, o := range orphans {
		deleted, err := r.Locks.DeleteLock(ctx, o.Tag, o.Lock.Value, ActionReleased, HistoryNote{RunID: rep.RunID, Trigger: rep.Trigger,
			Detail: "the row has been free or absent since " + o.FirstSeen.UTC().Format(time.RFC3339) + ", ORPHAN_GRACE " + r.OrphanGrace.String()})
		switch {
		case err != nil:
			r.log().Warn("release orphan lock", "run_id", rep.RunID, "tag", o.Tag, "err", err)
			continue
		case !deleted:
			continue
		}
		rep.OrphansReleased++
		r.log().Info("orphan lock released: its row has been free or absent for ORPHAN_GRACE", "run_id", rep.RunID,
			"trigger", rep.Trigger, "tag", o.Tag, "value", o.Lock.Value, "unbacked", o.Unbacked.Round(time.Second).String())
	}
}

// askForLooks asks for targeted orphan looks at the due times. The waits are relative, and
// measured on the machine's clock (the timer's), so a snapshot clock that differs from it does
// not matter. The looks are timed in this process; a restart loses them and the schedule's full
// runs judge those orphans instead.
func (r *Reconciler) askForLooks(ctx context.Context, looks map[time.Duration][]string, rep *Report) {
	if r.Retrigger == nil {
		return
	}
	for wait, tags := range looks {
		// The look outlives this run: its context must not end with the task.
		if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), TriggerOrphan, time.Now().Add(wait), tags...); err != nil {
			r.log().Warn("ask for an orphan look", "run_id", rep.RunID, "spools", len(tags), "err", err)
		}
	}
}

// recordHeld appends one `held` entry per deletion the safety valve kept the run from making.
func (r *Reconciler) recordHeld(ctx context.Context, j *Judgement, rep *Report) {
	var held []HistoryEntry
	for _, x := range j.Retract {
		held = append(held, HistoryEntry{Tag: x.Tag, Action: ActionHeld, Value: x.Lock.Value, RunID: rep.RunID,
			Trigger: rep.Trigger, Detail: "retraction held by the safety valve: " + rep.HeldReason})
	}
	for _, o := range j.Release {
		held = append(held, HistoryEntry{Tag: o.Tag, Action: ActionHeld, Value: o.Lock.Value, RunID: rep.RunID,
			Trigger: rep.Trigger, Detail: "orphan release held by the safety valve: " + rep.HeldReason})
	}
	r.appendHistory(ctx, rep, held...)
}

// appendHistory writes entries from Go (actions that are not a script); a failure is logged:
// the history explains, it never stops an action.
func (r *Reconciler) appendHistory(ctx context.Context, rep *Report, entries ...HistoryEntry) {
	if r.History == nil || len(entries) == 0 {
		return
	}
	if err := r.History.AppendHistory(ctx, entries...); err != nil {
		r.log().Warn("append to the history", "run_id", rep.RunID, "entries", len(entries), "err", err)
	}
}
