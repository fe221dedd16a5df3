package jobs

import (
	"context"
	"fmt"
	"time"
)

// TTLLookMargin is how long after a lock's TTL ends the worker looks at its spool again.
const TTLLookMargin = time.Second

// lookAtExpiring asks for a look at each lock with a TTL on a taken spool once its TTL has run
// out (+ TTLLookMargin): such a lock is an acquisition in flight, or one whose PERSIST never
// came (a stalled Redis ran the backend's SET NX EX after its client gave up and it went
// degraded). The worker never PERSISTs it (the backend's own PERSIST would then fail and roll
// its INICIAR back); if it is gone by then and the row still says taken, the look restores it.
// The wait is measured from when the locks were read, on this process's clock; looks due in
// the same second are asked for together.
func (r *Reconciler) lookAtExpiring(ctx context.Context, plan *Plan) {
	if len(plan.Expiring) == 0 {
		return
	}
	rep := &plan.Report
	read := plan.locksReadAt
	if read.IsZero() {
		read = time.Now()
	}
	due := map[time.Time][]string{}
	entries := make([]HistoryEntry, 0, len(plan.Expiring))
	for _, e := range plan.Expiring {
		at := read.Add(e.Lock.TTL + TTLLookMargin).Truncate(time.Second).Add(time.Second)
		due[at] = append(due[at], e.Tag)
		entries = append(entries, HistoryEntry{Tag: e.Tag, Action: ActionTTLFollowUp, Value: e.Lock.Value, RunID: rep.RunID,
			Trigger: rep.Trigger, Detail: fmt.Sprintf("a lock with a TTL (%s left) on a taken spool: never made persistent by "+
				"the worker; looked at again at %s, restored then if it is gone", e.Lock.TTL.Round(time.Millisecond), at.UTC().Format(time.RFC3339))})
		r.log().Info("lock with a TTL on a taken spool: left alone, looked at again when the TTL ends", "run_id", rep.RunID,
			"trigger", rep.Trigger, "tag", e.Tag, "value", e.Lock.Value, "ttl_ms", e.Lock.TTL.Milliseconds(),
			"look_at", at.Format(time.RFC3339))
	}
	r.appendHistory(ctx, rep, entries...)
	if r.Retrigger == nil {
		return
	}
	for at, tags := range due {
		// The look outlives this run: its context must not end with the task.
		if err := r.Retrigger.TriggerTagsAt(context.WithoutCancel(ctx), TriggerExpiring, at, tags...); err != nil {
			r.log().Warn("ask for a look when lock TTLs end", "run_id", rep.RunID, "spools", tags, "err", err)
		}
	}
}
