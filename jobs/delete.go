package jobs

import (
	"context"
	"fmt"
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
	r.lookAtExpiring(ctx, plan)
}

// retract takes back restored locks the fresh snapshot no longer backs. A lock whose tag's
// first row shows another occupation is swapped for that row's own lock in one step (the key
// is never empty, and the backend cannot slip in between); any other is deleted. The worker's
// deletions leave no tombstone (redislock renames the key away, so no `del` is seen), so a
// spool freed here can be taken or restored again at once.
func (r *Reconciler) retract(ctx context.Context, rs []Retraction, rep *Report) {
	var verify []string
	for _, x := range rs {
		if x.Replace != nil {
			if r.replace(ctx, x, rep) {
				verify = append(verify, x.Tag)
			}
			continue
		}
		why := "no row of the spool is taken"
		if x.Backing != Unbacked {
			why = "the rows show another occupation, and the first row is not one to restore"
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
		r.log().Warn("restored lock retracted: a fresh snapshot no longer backs it", "run_id", rep.RunID,
			"trigger", rep.Trigger, "tag", x.Tag, "value", x.Lock.Value, "why", why,
			"restored_at", x.Marker.At.Format(time.RFC3339Nano))
	}
	if len(verify) > 0 && r.Retrigger != nil {
		// The new lock is verified like a restore: RELEASE_SETTLE + 1 s later.
		at := time.Now().Add(r.Settle + time.Second)
		if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), TriggerVerify, at, verify...); err != nil {
			r.log().Warn("ask for the verifying look at replaced locks", "run_id", rep.RunID, "spools", verify, "err", err)
		}
	}
}

// replace swaps a restored lock for its row's own occupation (see retract); true when it did.
func (r *Reconciler) replace(ctx context.Context, x Retraction, rep *Report) bool {
	row := x.Replace
	value, swapped, err := r.Locks.ReplaceLock(ctx, x.Lock.Value, RestoreRequest{
		Tag: x.Tag, WorkerID: row.WorkerID, OccupiedAt: row.OccupiedAt, Settle: r.Settle},
		HistoryNote{RunID: rep.RunID, Trigger: rep.Trigger, Detail: fmt.Sprintf(
			"a fresh snapshot shows another occupation (row %d, %s); the restored value %s was swapped in one step",
			row.Number, row.Holder, x.Lock.Value)})
	switch {
	case err != nil:
		r.log().Warn("replace restored lock", "run_id", rep.RunID, "tag", x.Tag, "err", err)
		return false
	case !swapped:
		return false // changed since it was read: not ours to judge any more
	}
	rep.Replaced++
	r.log().Warn("restored lock replaced: a fresh snapshot shows another occupation", "run_id", rep.RunID,
		"trigger", rep.Trigger, "tag", x.Tag, "value", x.Lock.Value, "new_value", value, "row", row.Number,
		"holder", row.Holder, "restored_at", x.Marker.At.Format(time.RFC3339Nano))
	return true
}

// LookAfterRelease is how long after an orphan release the worker looks at the spool again. The
// backend's INICIAR can race the release: its SET NX fails on the orphan, its GET then finds
// the key gone, and it goes degraded (the row is written, no lock). Its row write retries for
// up to about 10 s; a look once that is over restores the new occupation's lock.
const LookAfterRelease = 11 * time.Second

// release deletes orphans past the grace, each only while it holds the value judged. A spool
// whose rows show another worker's occupation gets a look at once, which restores that
// occupation's lock; every released spool gets another LookAfterRelease later.
func (r *Reconciler) release(ctx context.Context, orphans []Orphan, rep *Report) {
	var now, later []string
	for _, o := range orphans {
		deleted, err := r.Locks.DeleteLock(ctx, o.Tag, o.Lock.Value, ActionReleased, HistoryNote{RunID: rep.RunID, Trigger: rep.Trigger,
			Detail: releaseReason(o, r.OrphanGrace)})
		switch {
		case err != nil:
			r.log().Warn("release orphan lock", "run_id", rep.RunID, "tag", o.Tag, "err", err)
			continue
		case !deleted:
			continue
		}
		rep.OrphansReleased++
		later = append(later, o.Tag)
		if o.Backing == OtherHolder {
			now = append(now, o.Tag)
			r.log().Info("orphan lock released: its row has shown another worker's occupation for ORPHAN_GRACE", "run_id", rep.RunID,
				"trigger", rep.Trigger, "tag", o.Tag, "value", o.Lock.Value, "row_holder", o.Holder,
				"unbacked", o.Unbacked.Round(time.Second).String())
			continue
		}
		r.log().Info("orphan lock released: its row has been free or absent for ORPHAN_GRACE", "run_id", rep.RunID,
			"trigger", rep.Trigger, "tag", o.Tag, "value", o.Lock.Value, "unbacked", o.Unbacked.Round(time.Second).String())
	}
	if r.Retrigger == nil {
		return
	}
	if len(now) > 0 {
		if err := r.Retrigger.TriggerTags(context.WithoutCancel(ctx), TriggerOrphan, now...); err != nil {
			r.log().Warn("ask for a look at re-taken spools", "run_id", rep.RunID, "spools", now, "err", err)
		}
	}
	if len(later) > 0 {
		at := time.Now().Add(LookAfterRelease)
		if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), TriggerOrphan, at, later...); err != nil {
			r.log().Warn("ask for a look after orphan releases", "run_id", rep.RunID, "spools", len(later), "err", err)
		}
	}
}

// releaseReason is a release's history detail: what contradicted the lock, since when.
func releaseReason(o Orphan, grace time.Duration) string {
	what := "the spool's rows have been free or absent"
	if o.Backing == OtherHolder {
		what = "the spool's row has shown another worker's occupation (" + o.Holder + ")"
	}
	return what + " since " + o.FirstSeen.UTC().Format(time.RFC3339) + ", ORPHAN_GRACE " + grace.String()
}

// askForLooks asks for targeted orphan looks at the due times. The waits are relative, and
// measured on the machine's clock (the timer's), so a snapshot clock that differs from it does
// not matter. Each look is a scheduled task in Redis (Retrigger), so a restart loses none.
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

// recordHeld appends one `held` entry per write the suspect snapshot kept the run from making:
// each restore it would have queued, each retraction and each orphan release it would have made.
func (r *Reconciler) recordHeld(ctx context.Context, plan *Plan) {
	rep, j := &plan.Report, &plan.Judgement
	why := "the sheet is suspect as a whole, nothing is written: " + rep.SuspectReason
	var held []HistoryEntry
	for _, c := range plan.Restores {
		held = append(held, HistoryEntry{Tag: c.Tag, Action: ActionHeld, RunID: rep.RunID, Trigger: rep.Trigger,
			Detail: "restore of " + c.Holder + " held: " + why})
	}
	for _, x := range j.Retract {
		held = append(held, HistoryEntry{Tag: x.Tag, Action: ActionHeld, Value: x.Lock.Value, RunID: rep.RunID,
			Trigger: rep.Trigger, Detail: "retraction held: " + why})
	}
	for _, o := range j.Release {
		held = append(held, HistoryEntry{Tag: o.Tag, Action: ActionHeld, Value: o.Lock.Value, RunID: rep.RunID,
			Trigger: rep.Trigger, Detail: "orphan release held: " + why})
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
