package jobs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func occupied(n int, holder func(i int) string) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("T-%03d", i)] = holder(i)
	}
	return m
}

// TestOccupationsReadEveryRow: a tag is occupied when any of its rows has a holder that is not
// free; the first such row's holder wins, trimmed; free, tagless and invalid-tag rows are out.
func TestOccupationsReadEveryRow(t *testing.T) {
	rows := []Row{
		{Number: 2, Tag: " A ", Holder: " MR(93) "},
		{Number: 3, Tag: "B", Holder: ""},
		{Number: 4, Tag: "B", Holder: "SB(95)"}, // a later row of B is taken: B is occupied
		{Number: 5, Tag: "A", Holder: "XX(1)"},  // A's first taken row wins
		{Number: 6, Tag: "C", Holder: "disponible"},
		{Number: 7, Tag: "", Holder: "MR(93)"},
		{Number: 8, Tag: "D\x01", Holder: "MR(93)"},
		{Number: 9, Tag: "E", Holder: "not a holder"}, // invalid holder: still an occupation
	}
	want := map[string]string{"A": "MR(93)", "B": "SB(95)", "E": "not a holder"}
	if got := Occupations(rows); !reflect.DeepEqual(got, want) {
		t.Fatalf("Occupations = %v, want %v", got, want)
	}
}

func TestJudgeTrust(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, time.UTC)
	fresh := func(occ map[string]string) Accepted {
		return Accepted{Present: true, Occupations: occ, JudgedAt: now.Add(-time.Minute)}
	}
	holder := func(i int) string { return fmt.Sprintf("W(%d)", i+1) }
	accepted60 := occupied(60, holder)

	// A holder column sorted alone: every holder moves to another row.
	sorted := occupied(60, func(i int) string { return holder((i + 1) % 60) })
	v := JudgeTrust(TrustInput{Snapshot: sorted, Accepted: fresh(accepted60), Locks: 60, Now: now})
	if !v.Suspect || v.Lost != 60 || len(v.Examples) != TrustExamples || v.Baseline != "accepted" {
		t.Fatalf("sorted column: %+v", v)
	}
	if v.Examples[0] != "T-000: was W(1), now W(2)" || !strings.Contains(v.Reason, "lost 60 of the 60 accepted") {
		t.Errorf("sorted column: examples %q, reason %q", v.Examples, v.Reason)
	}

	// Every holder blank.
	v = JudgeTrust(TrustInput{Snapshot: map[string]string{}, Accepted: fresh(accepted60), Locks: 60, Now: now})
	if !v.Suspect || v.Lost != 60 || v.Examples[0] != "T-000: was W(1), now free" {
		t.Fatalf("blank column: %+v", v)
	}

	// The thresholds: more than half AND more than a handful.
	for _, c := range []struct {
		accepted, lost int
		suspect        bool
	}{
		{5, 5, false}, {6, 5, false}, {6, 6, true}, {12, 6, false}, {12, 7, true},
		{100, 50, false}, {100, 51, true}, {1, 1, false}, {0, 0, false},
	} {
		acc := occupied(c.accepted, holder)
		snap := map[string]string{}
		for tag, h := range acc {
			snap[tag] = h
		}
		for i := range c.lost {
			delete(snap, fmt.Sprintf("T-%03d", i))
		}
		v := JudgeTrust(TrustInput{Snapshot: snap, Accepted: fresh(acc), Locks: 1000, Now: now})
		if v.Suspect != c.suspect || v.Lost != c.lost {
			t.Errorf("lost %d of %d accepted: suspect %v (lost %d), want %v", c.lost, c.accepted, v.Suspect, v.Lost, c.suspect)
		}
	}

	// New occupations are never lost ones: a shift starting is sane.
	grown := occupied(200, holder)
	if v := JudgeTrust(TrustInput{Snapshot: grown, Accepted: fresh(occupied(10, holder)), Locks: 10, Now: now}); v.Suspect || v.Lost != 0 {
		t.Errorf("a shift starting: %+v", v)
	}

	// Gradual change is sane: a shift ending 5 spools per snapshot, each sane snapshot accepted.
	acc := occupied(40, holder)
	for step := 0; len(acc) > 0; step++ {
		snap := map[string]string{}
		for tag, h := range acc {
			snap[tag] = h
		}
		for i := step * 5; i < step*5+5; i++ {
			delete(snap, fmt.Sprintf("T-%03d", i))
		}
		v := JudgeTrust(TrustInput{Snapshot: snap, Accepted: fresh(acc), Locks: 40, Now: now})
		if v.Suspect {
			t.Fatalf("step %d (%d left): %+v", step, len(snap), v)
		}
		acc = snap
	}

	// Nothing accepted (first boot, Redis emptied): only an empty sheet beside locks is suspect.
	for _, c := range []struct {
		name     string
		accepted Accepted
		snap     map[string]string
		locks    int
		suspect  bool
	}{
		{"first boot, empty sheet, 190 locks", Accepted{}, map[string]string{}, 190, true},
		{"first boot, empty sheet, a handful of locks", Accepted{}, map[string]string{}, 5, false},
		{"first boot, 30 occupations, 190 locks", Accepted{}, occupied(30, holder), 190, false},
		{"emptied Redis, sane sheet", Accepted{}, occupied(30, holder), 0, false},
		{"judged 2h ago: as if none", Accepted{Present: true, Occupations: accepted60, JudgedAt: now.Add(-2 * time.Hour)},
			map[string]string{}, 60, true},
		{"judged 2h ago, sheet moved: as if none, sane", Accepted{Present: true, Occupations: accepted60, JudgedAt: now.Add(-2 * time.Hour)},
			sorted, 60, false},
		{"accepted and empty: sane beside locks", fresh(map[string]string{}), map[string]string{}, 190, false},
		{"locks not counted", Accepted{}, map[string]string{}, -1, false},
	} {
		v := JudgeTrust(TrustInput{Snapshot: c.snap, Accepted: c.accepted, Locks: c.locks, Now: now})
		if v.Suspect != c.suspect || v.Baseline == "" || (v.Suspect && v.Reason == "") {
			t.Errorf("%s: %+v, want suspect %v", c.name, v, c.suspect)
		}
	}
	if v := JudgeTrust(TrustInput{Snapshot: map[string]string{}, Locks: 190, Now: now}); !strings.Contains(v.Reason, "190 locks") {
		t.Errorf("reason %q does not say how many locks", v.Reason)
	}
}

func TestSameOccupations(t *testing.T) {
	acc := map[string]string{"A": "MR(93)", "B": "SB(95)"}
	cases := []struct {
		snap map[string]string
		same bool
	}{
		{map[string]string{"A": "MR(93)", "B": "SB(95)"}, true},
		{map[string]string{"A": "MR(93)", "B": "ZZ(2)"}, false},               // another holder
		{map[string]string{"A": "MR(93)"}, false},                             // one freed
		{map[string]string{"A": "MR(93)", "B": "SB(95)", "C": "X(1)"}, false}, // one taken
		{map[string]string{"A": "MR(93)", "C": "SB(95)"}, false},              // same count, another tag
	}
	for _, c := range cases {
		if got := SameOccupations(acc, c.snap); got != c.same {
			t.Errorf("SameOccupations(%v, %v) = %v", acc, c.snap, got)
		}
	}
	if !SameOccupations(nil, map[string]string{}) {
		t.Error("two empty snapshots differ")
	}
}
