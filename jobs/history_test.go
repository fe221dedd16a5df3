package jobs

import (
	"strings"
	"testing"
	"time"
)

// TestActOnJudgementHistory: deletions carry their action and reason into the store's
// delete (which records them in the same step); held deletions and verified restores are
// appended from Go.
func TestActOnJudgementHistory(t *testing.T) {
	now := time.Now()
	t.Run("released and retracted", func(t *testing.T) {
		locks, hist := &fakeLocks{deleteOK: true}, &fakeHistory{}
		r := &Reconciler{Locks: locks, History: hist, OrphanGrace: 10 * time.Minute, Log: quietLog()}
		plan := &Plan{Report: Report{RunID: "run-1", Trigger: TriggerOrphan},
			locks: map[string]Lock{"A": {Value: "a"}, "B": {Value: "b"}, "C": {Value: "c"}}}
		plan.Judgement = Judgement{
			Release:     []Orphan{{Tag: "A", Lock: Lock{Value: "a"}, FirstSeen: now.Add(-11 * time.Minute)}},
			Retract:     []Retraction{{Tag: "B", Lock: Lock{Value: "b"}, Backing: Unbacked}},
			DropMarkers: map[string]RestoreMarker{"C": {Value: "c", At: now}, "GONE": {Value: "x", At: now}},
		}
		r.actOnJudgement(ctxT(t), plan)
		got := map[string]fakeDelete{}
		for _, d := range locks.deletes {
			got[d.tag] = d
		}
		if d := got["A"]; d.action != ActionReleased || d.value != "a" || d.note.RunID != "run-1" || d.note.Trigger != "orphan" || !strings.Contains(d.note.Detail, "ORPHAN_GRACE") {
			t.Errorf("release: %+v", d)
		}
		if d := got["B"]; d.action != ActionRetracted || !strings.Contains(d.note.Detail, "no row of the spool is taken") {
			t.Errorf("retraction: %+v", d)
		}
		if len(hist.entries) != 1 || hist.entries[0].Tag != "C" || hist.entries[0].Action != ActionVerified || hist.entries[0].RunID != "run-1" {
			t.Errorf("appended %+v, want one `verified` for C (GONE's marker was moot)", hist.entries)
		}
	})
	t.Run("held by a suspect sheet", func(t *testing.T) {
		locks, hist := &fakeLocks{deleteOK: true}, &fakeHistory{}
		r := &Reconciler{Locks: locks, History: hist, Trust: newFakeTrust(Accepted{}), OrphanGrace: 10 * time.Minute, Log: quietLog()}
		plan := &Plan{Report: Report{RunID: "run-2", Trigger: TriggerSchedule, SheetSuspect: true,
			SuspectReason: "the sheet lost 6 of the 6 accepted occupations"}, locks: map[string]Lock{}}
		plan.Restores = []Classified{{Tag: "R", Row: Row{Holder: "MR(93)"}}}
		for _, tag := range []string{"A", "B", "C", "D", "E", "F"} {
			plan.locks[tag] = Lock{Value: tag}
			plan.Judgement.Release = append(plan.Judgement.Release, Orphan{Tag: tag, Lock: Lock{Value: tag}, FirstSeen: now})
		}
		r.holdSuspect(ctxT(t), plan)
		if len(locks.deletes) != 0 {
			t.Fatalf("deleted %d locks while the sheet is suspect", len(locks.deletes))
		}
		if len(hist.entries) != 7 {
			t.Fatalf("appended %+v, want seven `held` entries (one restore, six releases)", hist.entries)
		}
		for _, e := range hist.entries {
			if e.Action != ActionHeld || e.RunID != "run-2" || !strings.Contains(e.Detail, "suspect") {
				t.Errorf("entry %+v: want a `held` entry of run-2 that says the sheet is suspect", e)
			}
		}
		if hist.entries[0].Tag != "R" || !strings.Contains(hist.entries[0].Detail, "restore of MR(93) held") {
			t.Errorf("first entry %+v: want the held restore of R", hist.entries[0])
		}
	})
}
