package jobs

import (
	"testing"
	"time"
	// The zone database is linked in so these tests load America/Santiago on a host without
	// /usr/share/zoneinfo too (jobs itself never loads a zone).
	_ "time/tzdata"
)

var santiago = mustZone("America/Santiago")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func at(now time.Time, ago time.Duration) Row {
	return Row{DateState: DateValid, OccupiedAt: now.Add(-ago), Date: now.Add(-ago).Format(time.RFC3339)}
}

// TestClassifyTable walks every row of docs/design.md's classification table, in its order.
func TestClassifyTable(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	withRow := func(r Row, tag, holder string) Row { r.Tag, r.Holder = tag, holder; return r }
	cases := []struct {
		name    string
		row     Row
		class   Class
		warning Warning
		worker  int
	}{
		{"free: empty holder", withRow(at(now, time.Hour), "T1", "  "), ClassFree, "", 0},
		{"free: DISPONIBLE any case", withRow(at(now, time.Hour), "T1", " disponible "), ClassFree, "", 0},
		{"free: blank row", Row{}, ClassFree, "", 0},
		{"invalid tag: empty", withRow(at(now, time.Hour), "  ", "MR(93)"), ClassInvalidTag, "", 0},
		{"invalid tag: control char", withRow(at(now, time.Hour), "T\x071", "MR(93)"), ClassInvalidTag, "", 0},
		{"invalid holder: no id", withRow(at(now, time.Hour), "T1", "MR"), ClassInvalidHolder, "", 0},
		{"invalid holder: zero id", withRow(at(now, time.Hour), "T1", "MR(0)"), ClassInvalidHolder, "", 0},
		{"invalid holder: text after id", withRow(at(now, time.Hour), "T1", "MR(93) x"), ClassInvalidHolder, "", 0},
		{"invalid date", withRow(Row{DateState: DateInvalid, Date: "ayer"}, "T1", "MR(93)"), ClassInvalidDate, "", 0},
		{"missing date", withRow(Row{DateState: DateMissing}, "T1", "MR(93)"), ClassCandidate, WarnMissingDate, 93},
		{"too old: 24h and 1s", withRow(at(now, 24*time.Hour+time.Second), "T1", "MR(93)"), ClassTooOld, "", 0},
		{"exactly 24h is not too old", withRow(at(now, 24*time.Hour), "T1", "MR(93)"), ClassCandidate, "", 93},
		{"future beyond 5 min", withRow(at(now, -6*time.Minute), "T1", "MR(93)"), ClassCandidate, WarnFutureDate, 93},
		{"future within 5 min", withRow(at(now, -5*time.Minute), "T1", "MR(93)"), ClassCandidate, "", 93},
		{"candidate", withRow(at(now, time.Hour), " T1 ", " JP(7) "), ClassCandidate, "", 7},
		{"holder text before id not checked", withRow(at(now, time.Hour), "T1", "José Pérez (12)"), ClassCandidate, "", 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify([]Row{tc.row}, now, DefaultRules)[0]
			if got.Class != tc.class || got.Warning != tc.warning || got.WorkerID != tc.worker {
				t.Fatalf("got class %q warning %q worker %d, want %q %q %d",
					got.Class, got.Warning, got.WorkerID, tc.class, tc.warning, tc.worker)
			}
		})
	}
}

func TestClassifyMissingDateUsesNow(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	got := Classify([]Row{{Tag: "T1", Holder: "MR(93)"}}, now, DefaultRules)[0]
	if !got.OccupiedAt.Equal(now) {
		t.Fatalf("missing date: occupied at %v, want now %v", got.OccupiedAt, now)
	}
}

// TestClassifyDuplicateFirstRowWins: the second row with a tag is a duplicate whatever the
// first row's class, as the backend reads the first match.
func TestClassifyDuplicateFirstRowWins(t *testing.T) {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago)
	rows := []Row{
		{Number: 2, Tag: "A", Holder: ""},                          // free, first
		withDate(Row{Number: 3, Tag: "A ", Holder: "MR(93)"}, now), // would be a candidate
		{Number: 4, Tag: "", Holder: ""},
		{Number: 5, Tag: "", Holder: ""}, // blank rows are not duplicates of each other
		{Number: 6, Tag: "B", Holder: "bad"},
		withDate(Row{Number: 7, Tag: "B", Holder: "MR(1)"}, now),
	}
	got := Classify(rows, now, DefaultRules)
	want := []Class{ClassFree, ClassDuplicateTag, ClassFree, ClassFree, ClassInvalidHolder, ClassDuplicateTag}
	for i := range want {
		if got[i].Class != want[i] {
			t.Errorf("row %d: class %q, want %q", rows[i].Number, got[i].Class, want[i])
		}
	}
}

func withDate(r Row, now time.Time) Row {
	r.DateState, r.OccupiedAt = DateValid, now.Add(-time.Minute)
	return r
}

// TestClassifyAgeAcrossDST: ages are elapsed time, not wall-clock differences. On the night
// Santiago's clocks go back (2026-04-05, 00:00 → 23:00 of the 4th) 24 wall-clock hours are 25 real ones.
func TestClassifyAgeAcrossDST(t *testing.T) {
	occupied := time.Date(2026, 4, 4, 12, 0, 0, 0, santiago)
	now := time.Date(2026, 4, 5, 11, 30, 0, 0, santiago) // 23h30 on the wall clock, 24h30 elapsed
	if wall := 23*time.Hour + 30*time.Minute; now.Sub(occupied) == wall {
		t.Skip("tz data has no DST change on 2026-04-05 for America/Santiago")
	}
	got := Classify([]Row{{Tag: "T", Holder: "MR(9)", DateState: DateValid, OccupiedAt: occupied}}, now, DefaultRules)[0]
	if got.Class != ClassTooOld {
		t.Fatalf("elapsed %v: class %q, want too_old", now.Sub(occupied), got.Class)
	}
}

func TestParseHolder(t *testing.T) {
	cases := map[string]int{
		"MR(93)": 93, " MR(93) ": 93, "(5)": 5, "A(B)(7)": 7, "MR(0)": 0, "MR(-3)": 0, "MR(93": 0,
		"MR()": 0, "MR(9a)": 0, "MR(99999999999)": 0, "": 0, "MR(2147483647)": 2147483647, "MR(+3)": 0,
		"(00000000001)": 1, "MR(007)": 7, "MR(000)": 0, "MR(٩٣)": 0,
	}
	for in, want := range cases {
		got, ok := ParseHolder(in)
		if got != want || ok != (want > 0) {
			t.Errorf("ParseHolder(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}
