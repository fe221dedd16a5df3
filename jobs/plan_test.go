package jobs

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestMakePlan(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	hourAgo := now.Add(-time.Hour)
	rows := []Row{
		{Number: 2, Tag: "MISSING", Holder: "MR(93)", DateState: DateValid, OccupiedAt: hourAgo},
		{Number: 3, Tag: "LOCKED", Holder: "MR(93)", DateState: DateValid, OccupiedAt: hourAgo},
		{Number: 4, Tag: "OTHER", Holder: "JP(7)", DateState: DateValid, OccupiedAt: hourAgo},
		{Number: 5, Tag: "FREE", Holder: "DISPONIBLE"},
		{Number: 6, Tag: "OLD", Holder: "MR(93)", DateState: DateValid, OccupiedAt: now.Add(-25 * time.Hour)},
		{Number: 7, Tag: "BAD", Holder: "nobody"},
	}
	locks := map[string]Lock{
		"LOCKED": {Value: "93:u:x", WorkerID: 93},
		"OTHER":  {Value: "8:u:x", WorkerID: 8},
		"FREE":   {Value: "1:u:x", WorkerID: 1},
		"GONE":   {Value: "2:u:x", WorkerID: 2},
		"OLD":    {Value: "93:u:x", WorkerID: 93}, // the sheet still says taken: not an orphan
		"BAD":    {Value: "3:u:x", WorkerID: 3},   // idem
	}
	p := MakePlan(rows, locks, now, DefaultRules, nil)
	r := p.Report
	if len(p.Restores) != 1 || p.Restores[0].Tag != "MISSING" || r.Missing != 1 {
		t.Fatalf("restores %+v missing %d, want only MISSING", p.Restores, r.Missing)
	}
	if r.AlreadyLocked != 1 || r.HolderMismatch != 1 || r.Free != 1 || r.TooOld != 1 ||
		r.InvalidHolder != 1 || r.Candidate != 3 || r.Rows != 6 {
		t.Fatalf("counts wrong: %+v", r)
	}
	// OTHER's row shows another worker: judged like an orphan (and reported as a mismatch).
	if r.OrphanLocks != 3 || p.Orphans[0].Tag != "FREE" || p.Orphans[1].Tag != "GONE" || p.Orphans[2].Tag != "OTHER" {
		t.Fatalf("orphans %+v, want FREE, GONE and OTHER", p.Orphans)
	}
	classes := map[string]bool{}
	for _, pr := range r.Problems {
		classes[pr.Class] = true
	}
	if !classes["holder_mismatch"] || !classes["invalid_holder"] || len(r.Problems) != 2 {
		t.Fatalf("problems %+v, want holder_mismatch and invalid_holder", r.Problems)
	}
}

func TestMakePlanScope(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	rows := []Row{
		{Number: 2, Tag: "A", Holder: "MR(93)", DateState: DateValid, OccupiedAt: now},
		{Number: 3, Tag: "B", Holder: "MR(93)", DateState: DateValid, OccupiedAt: now},
	}
	p := MakePlan(rows, map[string]Lock{"Z": {Value: "1:u:x"}}, now, DefaultRules, Scope{"B"})
	if p.Report.Rows != 1 || len(p.Restores) != 1 || p.Restores[0].Tag != "B" {
		t.Fatalf("scoped plan %+v, want only B", p)
	}
	if len(p.Orphans) != 0 {
		t.Fatalf("a lock outside the scope is not judged an orphan: %+v", p.Orphans)
	}
}

func TestMakePlanProblemsCapped(t *testing.T) {
	now := time.Now()
	var rows []Row
	for i := range 120 {
		rows = append(rows, Row{Number: i + 2, Tag: fmt.Sprint("T", i), Holder: "no id"})
	}
	r := MakePlan(rows, nil, now, DefaultRules, nil).Report
	if len(r.Problems) != MaxProblems || r.ProblemsTotal != 120 || r.InvalidHolder != 120 {
		t.Fatalf("problems %d total %d invalid %d", len(r.Problems), r.ProblemsTotal, r.InvalidHolder)
	}
}

func TestRestoreTaskID(t *testing.T) {
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, santiago)
	p := RestorePayload{Tag: "T", Holder: "MR(93)", OccupiedAt: at, RunID: "a", SnapshotAt: at}
	q := p
	q.RunID, q.SnapshotAt = "b", at.Add(time.Minute)
	if RestoreTaskID(p, false) != RestoreTaskID(q, false) {
		t.Fatal("two runs seeing the same occupation must share the TaskID")
	}
	r := p
	r.OccupiedAt = at.Add(time.Second)
	if RestoreTaskID(p, false) == RestoreTaskID(r, false) {
		t.Fatal("a new occupation must get a new TaskID")
	}
	m1, m2 := p, p
	m2.OccupiedAt = at.Add(time.Hour)
	if RestoreTaskID(m1, true) != RestoreTaskID(m2, true) {
		t.Fatal("rows without a date are stamped with now; their TaskID must not depend on it")
	}
}

// TestSameWallClockIsTheShownSecond: two instants back the same lock when the sheet's zone
// shows them as the same second, whatever their own zones; across Santiago's daylight-saving
// changes the repeated hour's two instants are the same wall clock, and a second's fractions
// do not count. Checked against formatting both, the rule's plain statement, over random
// instants spread over twenty years.
func TestSameWallClockIsTheShownSecond(t *testing.T) {
	santiago, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	const layout = "2006-01-02 15:04:05"
	byText := func(a, b time.Time) bool { return a.In(b.Location()).Format(layout) == b.Format(layout) }
	// The hour repeated when Santiago left summer time (2026-04-04, 24:00 became 23:00):
	// 23:30 came twice, one hour apart, and both show as 23:30:00.
	early := time.Date(2026, 4, 5, 2, 30, 0, 0, time.UTC)
	late := early.Add(time.Hour)
	if early.In(santiago).Format(layout) != late.In(santiago).Format(layout) {
		t.Fatalf("not a repeated hour: %v, %v", early.In(santiago), late.In(santiago))
	}
	if !sameWallClock(early, late.In(santiago)) {
		t.Error("the repeated hour's two instants should be one wall clock")
	}
	if !sameWallClock(time.Date(2026, 5, 13, 12, 41, 7, 999_000_000, time.UTC), time.Date(2026, 5, 13, 8, 41, 7, 0, santiago)) {
		t.Error("a second's fraction split one wall clock")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 200000 {
		a := time.Unix(base+rng.Int64N(20*365*86400), rng.Int64N(1e9))
		b := a.Add(time.Duration(rng.Int64N(4*3600)-2*3600) * time.Second)
		if rng.IntN(3) == 0 {
			b = a.Add(time.Duration(rng.Int64N(2000)-1000) * time.Millisecond)
		}
		b = b.In(santiago)
		if got, want := sameWallClock(a, b), byText(a, b); got != want {
			t.Fatalf("sameWallClock(%v, %v) = %v, the shown seconds say %v", a, b, got, want)
		}
	}
}
