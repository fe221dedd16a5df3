package sheets

import (
	"context"
	"testing"
	"time"

	"reconciler/jobs"
	"reconciler/tests/sheetsemu"
)

// sampleExpect is what docs/design.md's table makes of each Sample row, in order (the empty row is
// skipped by the readers, so it has no entry).
var sampleExpect = []struct {
	class   jobs.Class
	warning jobs.Warning
}{
	{jobs.ClassFree, ""}, {jobs.ClassFree, ""}, {jobs.ClassFree, ""},
	{jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""},
	{jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""},
	{jobs.ClassCandidate, ""},
	{jobs.ClassCandidate, jobs.WarnMissingDate}, {jobs.ClassCandidate, jobs.WarnMissingDate},
	{jobs.ClassInvalidDate, ""}, {jobs.ClassInvalidDate, ""}, {jobs.ClassInvalidDate, ""},
	{jobs.ClassTooOld, ""},
	{jobs.ClassCandidate, ""}, // 20 h ago
	{jobs.ClassCandidate, jobs.WarnFutureDate},
	{jobs.ClassCandidate, ""}, // +3 min
	{jobs.ClassDuplicateTag, ""}, {jobs.ClassDuplicateTag, ""},
	{jobs.ClassInvalidTag, ""}, {jobs.ClassInvalidTag, ""}, {jobs.ClassInvalidTag, ""},
	{jobs.ClassInvalidHolder, ""}, {jobs.ClassInvalidHolder, ""}, {jobs.ClassInvalidHolder, ""}, {jobs.ClassInvalidHolder, ""},
	{jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""},
	{jobs.ClassFree, ""},
	{jobs.ClassFree, ""}, {jobs.ClassFree, ""}, {jobs.ClassCandidate, ""}, {jobs.ClassCandidate, ""}, {jobs.ClassFree, ""},
	{jobs.ClassCandidate, ""},
}

func TestSampleCoversEveryClass(t *testing.T) {
	loc := santiago(t)
	nows := []time.Time{
		time.Date(2026, 5, 13, 11, 33, 48, 123456789, loc), // fractions of a second
		time.Date(2026, 1, 15, 0, 10, 0, 0, loc),           // summer time, just after midnight
		time.Date(2026, 9, 6, 10, 0, 0, 0, loc),            // the morning after clocks jumped
		time.Date(2026, 4, 5, 12, 0, 0, 999, loc),          // the day after clocks went back
		time.Now().Truncate(time.Second),
	}
	for _, now := range nows {
		t.Run(now.Format(time.RFC3339Nano), func(t *testing.T) {
			grid := Sample(now, loc)
			if len(grid[0]) != 75 || len(grid) != 41 {
				t.Fatalf("sample is %d rows of %d columns", len(grid), len(grid[0]))
			}
			snap, err := NewStatic(grid, loc).Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Rows) != len(sampleExpect) {
				t.Fatalf("%d rows, want %d", len(snap.Rows), len(sampleExpect))
			}
			seen := map[string]bool{}
			for i, c := range jobs.Classify(snap.Rows, now, jobs.DefaultRules) {
				want := sampleExpect[i]
				if c.Class != want.class || c.Warning != want.warning {
					t.Errorf("row %d (tag %q, holder %q, date %q): %s/%s, want %s/%s",
						c.Number, c.Tag, c.Holder, c.Date, c.Class, c.Warning, want.class, want.warning)
				}
				seen[string(c.Class)], seen[string(c.Warning)] = true, true
			}
			for _, k := range []string{"free", "duplicate_tag", "invalid_tag", "invalid_holder", "invalid_date", "too_old", "candidate", "missing_date", "future_date"} {
				if !seen[k] {
					t.Errorf("no row is %s", k)
				}
			}
		})
	}
}

// TestSampleClearOfEdges: the demo classifies its sample again on every run while the clock
// moves on, so no row may change class or warning within the first hour (a row at exactly
// MAX_LOCK_AGE turned too_old seconds after start). Start times stay before 22:00, so the
// date-only row (today's midnight) does not cross into the next day.
func TestSampleClearOfEdges(t *testing.T) {
	loc := santiago(t)
	for _, start := range []time.Time{
		time.Date(2026, 5, 13, 11, 33, 48, 123456789, loc),
		time.Date(2026, 1, 15, 0, 10, 0, 0, loc),
		time.Date(2026, 9, 6, 10, 0, 0, 0, loc),
		time.Date(2026, 4, 5, 12, 0, 0, 999, loc),
		time.Date(2026, 7, 1, 21, 0, 0, 0, loc),
	} {
		snap, err := NewStatic(Sample(start, loc), loc).Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		first := jobs.Classify(snap.Rows, start, jobs.DefaultRules)
		for _, later := range []time.Duration{time.Second, time.Minute, 10 * time.Minute, time.Hour} {
			for i, c := range jobs.Classify(snap.Rows, start.Add(later), jobs.DefaultRules) {
				if c.Class != first[i].Class || c.Warning != first[i].Warning {
					t.Errorf("start %s, %v later: row %d (date %q) turned from %s/%s to %s/%s",
						start.Format(time.RFC3339), later, c.Number, c.Date, first[i].Class, first[i].Warning, c.Class, c.Warning)
				}
			}
		}
	}
}

// The three transports read the sample identically.
func TestTransportsAgreeOnSample(t *testing.T) {
	loc := santiago(t)
	now := time.Now()
	grid := Sample(now, loc)
	static, err := NewStatic(grid, loc).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	for _, comma := range []rune{',', ';'} {
		rows, err := readCSV(t, writeCSV(t, grid, comma, true))
		if err != nil {
			t.Fatal(err)
		}
		assertRows(t, rows, static.Rows)
	}

	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", grid)
	api, _ := newTestAPI(t, e)
	assertRows(t, mustRead(t, api).Rows, static.Rows)
}

func TestStaticCopiesItsGrid(t *testing.T) {
	grid := [][]any{{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"}, {"A", "MR(1)", ""}}
	s := NewStatic(grid, nil)
	grid[1][0] = "changed"
	snap, err := s.Read(context.Background())
	if err != nil || len(snap.Rows) != 1 || snap.Rows[0].Tag != "A" || snap.Requests != 0 {
		t.Errorf("rows %+v, err %v", snap.Rows, err)
	}
	if _, err := NewStatic(nil, nil).Read(context.Background()); err == nil {
		t.Error("empty static sheet: no error")
	}
}
