package jobs

import (
	"reflect"
	"sort"
	"testing"
	"time"
)

// judgeFixture is one sheet and its locks at a fixed time, for the pure judgement tests.
type judgeFixture struct {
	now   time.Time
	rows  []Row
	locks map[string]Lock
}

func newJudgeFixture() judgeFixture {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	at := now.Add(-time.Hour)
	lock := func(id int, v string, at time.Time) Lock { return Lock{Value: v, WorkerID: id, At: at} }
	return judgeFixture{
		now: now,
		rows: []Row{
			{Number: 2, Tag: "EXACT", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at},
			{Number: 3, Tag: "FREE", Holder: ""},
			{Number: 4, Tag: "OTHER-HOLDER", Holder: "JP(7)", DateState: DateValid, OccupiedAt: at},
			{Number: 5, Tag: "OTHER-TIME", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at.Add(time.Minute)},
			{Number: 6, Tag: "NO-DATE", Holder: "MR(93)", DateState: DateMissing},
			{Number: 7, Tag: "BAD", Holder: "nobody"},
			{Number: 8, Tag: "OLD", Holder: "MR(93)", DateState: DateValid, OccupiedAt: now.Add(-25 * time.Hour)},
			{Number: 9, Tag: "EXACT", Holder: "JP(7)", DateState: DateValid, OccupiedAt: at}, // duplicate: weakens nothing
		},
		locks: map[string]Lock{
			"EXACT":        lock(93, "93:e:x", at),
			"FREE":         lock(93, "93:f:x", at),
			"GONE":         lock(93, "93:g:x", at), // no row at all
			"OTHER-HOLDER": lock(93, "93:h:x", at),
			"OTHER-TIME":   lock(93, "93:t:x", at),
			"NO-DATE":      lock(93, "93:n:x", now.Add(-10*time.Minute)),
			"BAD":          lock(3, "3:b:x", at),
			"OLD":          lock(93, "93:o:x", at),
		},
	}
}

func (f judgeFixture) plan(scope Scope) Plan {
	p := MakePlan(f.rows, f.locks, f.now, DefaultRules, scope)
	p.Report.SnapshotAt = f.now
	return p
}

func TestBacking(t *testing.T) {
	f := newJudgeFixture()
	p := f.plan(nil)
	want := map[string]Backing{
		"EXACT": Exact, "FREE": Unbacked, "GONE": Unbacked, "OTHER-HOLDER": OtherHolder,
		"OTHER-TIME": OtherOccupation, "NO-DATE": Exact, "BAD": Unreadable, "OLD": Unreadable,
	}
	if !reflect.DeepEqual(p.Backing, want) {
		t.Fatalf("backing %v, want %v", p.Backing, want)
	}
	// Another worker's occupation makes an orphan too, with the row's holder.
	if len(p.Orphans) != 3 || p.Orphans[0].Tag != "FREE" || p.Orphans[1].Tag != "GONE" || p.Report.OrphanLocks != 3 ||
		p.Orphans[2].Tag != "OTHER-HOLDER" || p.Orphans[2].Backing != OtherHolder || p.Orphans[2].Holder != "JP(7)" {
		t.Fatalf("orphans %+v", p.Orphans)
	}
	// In a targeted scope, a tag with a lock and no taken row is an orphan too; locks
	// outside the scope are not judged.
	p = f.plan(Scope{"GONE", "EXACT"})
	if len(p.Orphans) != 1 || p.Orphans[0].Tag != "GONE" || len(p.Backing) != 2 {
		t.Fatalf("targeted orphans %+v backing %v", p.Orphans, p.Backing)
	}
	// A lock whose value carries no readable time is not the occupation of a dated row.
	f.locks["EXACT"] = Lock{Value: "93:garbage", WorkerID: 93}
	if b := f.plan(nil).Backing["EXACT"]; b != OtherOccupation {
		t.Fatalf("undated lock against a dated row: %v", b)
	}
}

func TestJudgeVerify(t *testing.T) {
	f := newJudgeFixture()
	settle := time.Minute
	marker := func(tag string, age time.Duration) RestoreMarker {
		return RestoreMarker{Value: f.locks[tag].Value, At: f.now.Add(-age)}
	}
	markers := map[string]RestoreMarker{
		"EXACT":        marker("EXACT", 2*settle),                         // backed: verified
		"FREE":         marker("FREE", settle),                            // due exactly: retracted
		"GONE":         marker("GONE", settle+time.Second),                // retracted
		"OTHER-HOLDER": marker("OTHER-HOLDER", 2*settle),                  // another holder: retracted
		"OTHER-TIME":   marker("OTHER-TIME", settle-time.Millisecond),     // not due: left alone
		"BAD":          marker("BAD", 2*settle),                           // unreadable row: kept, marker dropped
		"ABSENT":       {Value: "93:z:x", At: f.now.Add(-2 * settle)},     // no lock: moot
		"NO-DATE":      {Value: "93:changed", At: f.now.Add(-2 * settle)}, // the lock changed: moot
	}
	scope := Scope{"EXACT", "FREE", "GONE", "OTHER-HOLDER", "OTHER-TIME", "BAD", "ABSENT", "NO-DATE"}
	p := f.plan(scope)
	if got := p.MarkerTags(scope); !reflect.DeepEqual(got, []string(scope)) {
		t.Fatalf("a targeted run reads the markers of its scope, got %v", got)
	}
	p.Judge(JudgeInput{SnapshotAt: f.now, Settle: settle, Grace: 10 * time.Minute, Markers: markers}, scope)
	j := p.Judgement
	var retracted []string
	for _, x := range j.Retract {
		retracted = append(retracted, x.Tag)
		if x.Lock.Value != f.locks[x.Tag].Value || x.Marker != markers[x.Tag] {
			t.Errorf("retraction %+v does not carry the lock and marker judged", x)
		}
	}
	sort.Strings(retracted)
	if want := []string{"FREE", "GONE", "OTHER-HOLDER"}; !reflect.DeepEqual(retracted, want) {
		t.Fatalf("retracted %v, want %v", retracted, want)
	}
	var dropped []string
	for tag := range j.DropMarkers {
		dropped = append(dropped, tag)
	}
	sort.Strings(dropped)
	if want := []string{"ABSENT", "BAD", "EXACT", "NO-DATE"}; !reflect.DeepEqual(dropped, want) {
		t.Fatalf("dropped markers %v, want %v", dropped, want)
	}
	// Orphans being retracted get no sighting and no release.
	if len(j.Record) != 0 || len(j.Release) != 0 || j.Deletions() != 3 {
		t.Fatalf("judgement %+v", j)
	}
}

func TestJudgeFullRunReadsOnlyUnconfirmedMarkers(t *testing.T) {
	f := newJudgeFixture()
	p := f.plan(nil)
	want := []string{"BAD", "FREE", "GONE", "OLD", "OTHER-HOLDER", "OTHER-TIME"}
	if got := p.MarkerTags(nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("marker tags of a full run %v, want %v", got, want)
	}
}

func TestJudgeOrphans(t *testing.T) {
	f := newJudgeFixture()
	grace := 10 * time.Minute
	snap := f.now
	sightings := map[string]OrphanSighting{
		"FREE":   {Value: "93:f:x", FirstSeen: snap.Add(-grace)},     // exactly the grace: released
		"EXACT":  {Value: "93:e:x", FirstSeen: snap.Add(-time.Hour)}, // backed again: forgotten
		"NOLOCK": {Value: "1:n:x", FirstSeen: snap.Add(-time.Hour)},  // no lock: forgotten
	}
	p := f.plan(nil)
	p.Judge(JudgeInput{SnapshotAt: snap, Grace: grace, Sightings: sightings}, nil)
	j := p.Judgement
	if len(j.Release) != 1 || j.Release[0].Tag != "FREE" || j.Release[0].Unbacked != grace || p.Report.OrphansPastGrace != 1 {
		t.Fatalf("releases %+v past grace %d", j.Release, p.Report.OrphansPastGrace)
	}
	// GONE is seen unbacked for the first time, OTHER-HOLDER contradicted by another worker's
	// row: both recorded at the snapshot, with a look asked for grace + 1 s later.
	if want := map[string]OrphanSighting{"GONE": {Value: "93:g:x", FirstSeen: snap}, "OTHER-HOLDER": {Value: "93:h:x", FirstSeen: snap}}; !reflect.DeepEqual(j.Record, want) {
		t.Fatalf("recorded %v, want %v", j.Record, want)
	}
	if want := map[time.Duration][]string{grace + time.Second: {"GONE", "OTHER-HOLDER"}}; !reflect.DeepEqual(j.LookAt, want) {
		t.Fatalf("looks %v, want %v", j.LookAt, want)
	}
	if len(j.Forget) != 2 || j.Forget["EXACT"] != sightings["EXACT"] || j.Forget["NOLOCK"] != sightings["NOLOCK"] {
		t.Fatalf("forgotten %v", j.Forget)
	}
	if !(&Report{OrphansPastGrace: 1}).Drift() || (&Report{OrphanLocks: 3}).Drift() {
		t.Fatal("an orphan past the grace is drift, a younger one is not")
	}

	// One millisecond short of the grace: neither released nor drift; a look that came early
	// (a clock apart) asks again for the rest of the grace.
	sightings["FREE"] = OrphanSighting{Value: "93:f:x", FirstSeen: snap.Add(-grace + time.Millisecond)}
	p = f.plan(Scope{"FREE"})
	p.Judge(JudgeInput{SnapshotAt: snap, Grace: grace, Sightings: sightings, Early: true}, Scope{"FREE"})
	if len(p.Judgement.Release) != 0 || p.Report.Drift() || p.Orphans[0].Unbacked != grace-time.Millisecond {
		t.Fatalf("early look: %+v, drift %v", p.Judgement, p.Report.Drift())
	}
	if want := map[time.Duration][]string{time.Second + time.Millisecond: {"FREE"}}; !reflect.DeepEqual(p.Judgement.LookAt, want) {
		t.Fatalf("early look asks %v, want %v", p.Judgement.LookAt, want)
	}
	// A targeted run judges (and forgets) only its scope's sightings.
	if len(p.Judgement.Forget) != 0 {
		t.Fatalf("a targeted run forgot sightings outside its scope: %v", p.Judgement.Forget)
	}

	// Another value in the key starts over: a new sighting replaces the stored one.
	sightings["FREE"] = OrphanSighting{Value: "93:older:x", FirstSeen: snap.Add(-time.Hour)}
	p = f.plan(nil)
	p.Judge(JudgeInput{SnapshotAt: snap, Grace: grace, Sightings: sightings}, nil)
	if len(p.Judgement.Release) != 0 || p.Judgement.Record["FREE"] != (OrphanSighting{Value: "93:f:x", FirstSeen: snap}) {
		t.Fatalf("another value: %+v", p.Judgement)
	}

	// ORPHAN_GRACE off: ages are reported, nothing released or looked at; sightings are still
	// recorded and kept (a replica that releases, beside this one, must not lose them).
	p = f.plan(nil)
	p.Judge(JudgeInput{SnapshotAt: snap, Sightings: map[string]OrphanSighting{"FREE": {Value: "93:f:x", FirstSeen: snap.Add(-time.Hour)}}}, nil)
	if len(p.Judgement.Release)+len(p.Judgement.LookAt)+len(p.Judgement.Forget) != 0 || p.Report.OrphansPastGrace != 0 ||
		p.Orphans[0].Unbacked != time.Hour {
		t.Fatalf("grace off: %+v, orphans %+v", p.Judgement, p.Orphans)
	}
	if want := map[string]OrphanSighting{"GONE": {Value: "93:g:x", FirstSeen: snap}, "OTHER-HOLDER": {Value: "93:h:x", FirstSeen: snap}}; !reflect.DeepEqual(p.Judgement.Record, want) {
		t.Fatalf("grace off recorded %v, want %v", p.Judgement.Record, want)
	}
}
