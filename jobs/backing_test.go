package jobs

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestBackingOverEveryRow: a lock is judged against every row of its tag, the strongest backing
// winning, so no deletion rests on one of several rows; restores still come from the first row.
func TestBackingOverEveryRow(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	at := now.Add(-time.Hour)
	lock := Lock{Value: "93:u:x", WorkerID: 93, At: at}
	taken := func(n int, tag, holder string, when time.Time) Row {
		return Row{Number: n, Tag: tag, Holder: holder, DateState: DateValid, OccupiedAt: when}
	}
	free := func(n int, tag string) Row { return Row{Number: n, Tag: tag} }
	for _, c := range []struct {
		name string
		rows []Row
		want Backing
	}{
		// Issue 15: row 5 "MK-1 " free and row 9 "MK-1" taken are one tag once trimmed: the live
		// lock of row 9 is backed, never an orphan.
		{"near duplicate", []Row{free(5, "MK-1 "), taken(9, "MK-1", "MR(93)", at)}, Exact},
		{"exact on the first row", []Row{taken(5, "MK-1", "MR(93)", at), free(9, "MK-1")}, Exact},
		{"exact beside another holder", []Row{taken(5, "MK-1", "JP(7)", at), taken(9, "MK-1", "MR(93)", at)}, Exact},
		{"unreadable row beside another holder", []Row{taken(5, "MK-1", "JP(7)", at), {Number: 9, Tag: "MK-1", Holder: "nobody"}}, Unreadable},
		{"too old row beside a free one", []Row{free(5, "MK-1"), taken(9, "MK-1", "MR(93)", now.Add(-25*time.Hour))}, Unreadable},
		{"same worker another time beside another holder", []Row{taken(5, "MK-1", "JP(7)", at), taken(9, "MK-1", "MR(93)", at.Add(time.Minute))}, OtherOccupation},
		{"another holder on a duplicate row", []Row{free(5, "MK-1"), taken(9, "MK-1", "JP(7)", at)}, OtherHolder},
		{"every row free", []Row{free(5, "MK-1"), free(9, " MK-1 ")}, Unbacked},
		{"no row", []Row{free(5, "OTHER")}, Unbacked},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, scope := range []Scope{nil, {"MK-1"}} {
				p := MakePlan(c.rows, map[string]Lock{"MK-1": lock}, now, DefaultRules, scope)
				if got := p.Backing["MK-1"]; got != c.want {
					t.Fatalf("scope %v: backing %v, want %v", scope, got, c.want)
				}
				orphan := len(p.Orphans) == 1
				if orphan != (c.want == Unbacked || c.want == OtherHolder) {
					t.Fatalf("scope %v: orphans %+v for backing %v", scope, p.Orphans, c.want)
				}
			}
		})
	}

	// Without a lock, the near-duplicate pair restores nothing: the first row wins, and it is free.
	p := MakePlan([]Row{free(5, "MK-1 "), taken(9, "MK-1", "MR(93)", at)}, nil, now, DefaultRules, nil)
	if len(p.Restores) != 0 || p.Report.DuplicateTag != 1 {
		t.Fatalf("restores %+v duplicates %d", p.Restores, p.Report.DuplicateTag)
	}
	// A lock whose value has no readable worker is never judged another worker's.
	p = MakePlan([]Row{taken(5, "MK-1", "JP(7)", at)}, map[string]Lock{"MK-1": {Value: "garbage"}}, now, DefaultRules, nil)
	if p.Backing["MK-1"] != OtherOccupation || len(p.Orphans) != 0 {
		t.Fatalf("unreadable value: backing %v orphans %+v", p.Backing["MK-1"], p.Orphans)
	}
}

// TestJudgeOtherHolder: a lock whose row shows another worker's occupation (re-taken in degraded
// mode beside a leftover) is judged like an orphan of its value: sighted, then released once
// contradicted for the grace, and counted as drift; the same worker at another time is not.
func TestJudgeOtherHolder(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	at := now.Add(-time.Hour)
	grace := 10 * time.Minute
	rows := []Row{
		{Number: 2, Tag: "RETAKEN", Holder: "SB(95)", DateState: DateValid, OccupiedAt: now.Add(-time.Minute)},
		{Number: 3, Tag: "SAME", Holder: "MR(93)", DateState: DateValid, OccupiedAt: now.Add(-time.Minute)},
	}
	locks := map[string]Lock{
		"RETAKEN": {Value: "93:left:x", WorkerID: 93, At: at},
		"SAME":    {Value: "93:same:x", WorkerID: 93, At: at},
	}
	p := MakePlan(rows, locks, now, DefaultRules, nil)
	p.Report.SnapshotAt = now
	p.Judge(JudgeInput{SnapshotAt: now, Grace: grace}, nil)
	if p.Report.HolderMismatch != 1 || p.Report.AlreadyLocked != 1 || p.Report.OrphanLocks != 1 {
		t.Fatalf("report %+v", p.Report)
	}
	if want := map[string]OrphanSighting{"RETAKEN": {Value: "93:left:x", FirstSeen: now}}; !reflect.DeepEqual(p.Judgement.Record, want) {
		t.Fatalf("recorded %v, want %v", p.Judgement.Record, want)
	}

	// Contradicted for the grace: released (the row's own lock is restored by the look that
	// follows the release), and drift until then.
	sightings := map[string]OrphanSighting{"RETAKEN": {Value: "93:left:x", FirstSeen: now.Add(-grace)}}
	p = MakePlan(rows, locks, now, DefaultRules, nil)
	p.Judge(JudgeInput{SnapshotAt: now, Grace: grace, Sightings: sightings}, nil)
	rel := p.Judgement.Release
	if len(rel) != 1 || rel[0].Tag != "RETAKEN" || rel[0].Backing != OtherHolder || rel[0].Holder != "SB(95)" ||
		p.Report.OrphansPastGrace != 1 || !p.Report.Drift() {
		t.Fatalf("releases %+v report %+v", rel, p.Report)
	}
	if len(p.Judgement.Forget) != 0 {
		t.Fatalf("a contradicted lock's sighting was forgotten: %v", p.Judgement.Forget)
	}
	// The sighting runs on while the row turns from free to another holder (same value).
	free := []Row{{Number: 2, Tag: "RETAKEN"}}
	p = MakePlan(free, locks, now, DefaultRules, Scope{"RETAKEN"})
	p.Judge(JudgeInput{SnapshotAt: now, Grace: grace, Sightings: sightings}, Scope{"RETAKEN"})
	if len(p.Judgement.Release) != 1 || len(p.Judgement.Forget) != 0 {
		t.Fatalf("free row after another holder: %+v", p.Judgement)
	}
	// Grace off: recorded, kept, never released.
	p = MakePlan(rows, locks, now, DefaultRules, nil)
	p.Judge(JudgeInput{SnapshotAt: now, Sightings: sightings}, nil)
	if len(p.Judgement.Release)+len(p.Judgement.Forget)+len(p.Judgement.LookAt) != 0 || p.Report.OrphansPastGrace != 0 {
		t.Fatalf("grace off: %+v", p.Judgement)
	}
	p = MakePlan(rows, locks, now, DefaultRules, nil)
	p.Judge(JudgeInput{SnapshotAt: now}, nil)
	if len(p.Judgement.Record) != 1 {
		t.Fatalf("grace off records no sighting: %+v", p.Judgement)
	}
}

// TestJudgeRetractionReplaces: a due retraction whose first row is another occupation's candidate
// carries that row, so the lock is swapped for it; a free first row deletes.
func TestJudgeRetractionReplaces(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	at := now.Add(-time.Hour)
	rows := []Row{
		{Number: 2, Tag: "HOLDER", Holder: "SB(95)", DateState: DateValid, OccupiedAt: at},
		{Number: 3, Tag: "TIME", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at.Add(time.Minute)},
		{Number: 4, Tag: "DUP"}, // free first row: nothing to restore from it
		{Number: 5, Tag: "DUP", Holder: "SB(95)", DateState: DateValid, OccupiedAt: at},
		{Number: 6, Tag: "FREE"},
	}
	locks := map[string]Lock{}
	markers := map[string]RestoreMarker{}
	for _, tag := range []string{"HOLDER", "TIME", "DUP", "FREE"} {
		v := "93:" + tag + ":x"
		locks[tag] = Lock{Value: v, WorkerID: 93, At: at}
		markers[tag] = RestoreMarker{Value: v, At: now.Add(-2 * time.Minute)}
	}
	p := MakePlan(rows, locks, now, DefaultRules, nil)
	p.Judge(JudgeInput{SnapshotAt: now, Settle: time.Minute, Grace: 10 * time.Minute, Markers: markers}, nil)
	got := map[string]int{} // tag → row number replacing it (0: deleted)
	for _, x := range p.Judgement.Retract {
		got[x.Tag] = 0
		if x.Replace != nil {
			got[x.Tag] = x.Replace.Number
		}
	}
	if want := map[string]int{"HOLDER": 2, "TIME": 3, "DUP": 0, "FREE": 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("retractions %v, want %v", got, want)
	}
	if p.Report.RetractionsDue != 4 || len(p.Judgement.Record) != 0 || len(p.Judgement.Release) != 0 {
		t.Fatalf("report %+v judgement %+v", p.Report, p.Judgement)
	}
}

// TestExpiringLocks: a lock with a TTL on a taken row is listed (looked at when the TTL ends);
// one on a free row is an orphan like any other.
func TestExpiringLocks(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	at := now.Add(-time.Minute)
	rows := []Row{
		{Number: 2, Tag: "STALLED", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at},
		{Number: 3, Tag: "IN-FLIGHT"},
		{Number: 4, Tag: "PERSISTENT", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at},
	}
	locks := map[string]Lock{
		"STALLED":    {Value: "93:s:x", WorkerID: 93, At: at, TTL: 7 * time.Second},
		"IN-FLIGHT":  {Value: "93:f:x", WorkerID: 93, At: at, TTL: 9 * time.Second},
		"PERSISTENT": {Value: "93:p:x", WorkerID: 93, At: at},
	}
	p := MakePlan(rows, locks, now, DefaultRules, nil)
	if len(p.Expiring) != 1 || p.Expiring[0].Tag != "STALLED" || p.Expiring[0].Lock.TTL != 7*time.Second || p.Report.ExpiringLocks != 1 {
		t.Fatalf("expiring %+v count %d", p.Expiring, p.Report.ExpiringLocks)
	}
	if len(p.Orphans) != 1 || p.Orphans[0].Tag != "IN-FLIGHT" || p.Report.AlreadyLocked != 2 || p.Report.Drift() {
		t.Fatalf("orphans %+v report %+v", p.Orphans, p.Report)
	}
}

// TestExpiringLocksHistory: the look at a TTL's end is recorded as a `ttl_follow_up` history
// entry of that lock, with when the look comes.
func TestExpiringLocksHistory(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	at := now.Add(-time.Minute)
	rows := []Row{{Number: 2, Tag: "STALLED", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at}}
	locks := map[string]Lock{"STALLED": {Value: "93:s:x", WorkerID: 93, At: at, TTL: 7 * time.Second}}
	p := MakePlan(rows, locks, now, DefaultRules, nil)
	p.Report.RunID, p.Report.Trigger = "run-9", TriggerRedisBack
	hist := &fakeHistory{}
	r := &Reconciler{History: hist, Log: quietLog()}
	r.lookAtExpiring(ctxT(t), &p)
	if len(hist.entries) != 1 {
		t.Fatalf("appended %+v, want one entry", hist.entries)
	}
	e := hist.entries[0]
	if e.Tag != "STALLED" || e.Action != ActionTTLFollowUp || e.Value != "93:s:x" || e.RunID != "run-9" ||
		e.Trigger != TriggerRedisBack || !strings.Contains(e.Detail, "looked at again at") {
		t.Errorf("entry %+v", e)
	}
}
