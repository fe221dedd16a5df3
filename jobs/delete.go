package jobs

import (
	"context"
	"time"
)

// actOnJudgement carries out a plan's judgement: the deletions, the sightings and markers to
// record or drop, and the looks to ask for. It runs only for a snapshot judged sane as a whole
// (see Run). A deletion or a bookkeeping write that fails is logged and left to the next run
// (every step is decided again from Redis and the sheet then).
func (r *Reconciler) actOnJudgement(ctx context.Context, plan *Plan) {
	j, rep := &plan.Judgement, &plan.Report
	r.retract(ctx, j.Retract, rep)
	r.release(ctx, j.Release, rep)
	if err := r.Locks.UpdateOrphans(ctx, j.Record, j.Forget); err != nil {
		r.log().Warn("update orphan sightings", "run_id", rep.RunID, "err", err)
	}
	for tag, m := range j.DropMarkers {
		if err := r.Locks.DropMarker(ctx, tag, m); err != nil {
			r.log().Warn("drop restore marker", "run_id", rep.RunID, "tag", tag, "err", err)
		}
	}
	r.askForLooks(ctx, j.LookAt, rep)
}

// retract takes back restored locks the fresh snapshot no longer backs. A spool whose row
// shows another occupation gets a look at once, which restores the sheet's own lock.
func (r *Reconciler) retract(ctx context.Context, rs []Retraction, rep *Report) {
	var again []string
	for _, x := range rs {
		deleted, err := r.Locks.DeleteLock(ctx, x.Tag, x.Lock.Value)
		switch {
		case err != nil:
			r.log().Warn("retract restored lock", "run_id", rep.RunID, "tag", x.Tag, "err", err)
			continue
		case !deleted:
			continue // changed since it was read: not ours to judge any more
		}
		rep.Retracted++
		why := "the row is free or absent"
		if x.Backing == OtherOccupation {
			why = "the row shows another occupation"
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
		deleted, err := r.Locks.DeleteLock(ctx, o.Tag, o.Lock.Value)
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
