package sheets

import (
	"errors"
	"testing"
	"time"

	"reconciler/jobs"
)

func TestParseGrid(t *testing.T) {
	loc := santiago(t)
	grid := [][]any{
		{"id", "TAG_SPOOL", "x", "Ocupado_Por", "Fecha_Ocupacion", "tail"},
		{1, " MK-1 ", nil, " MR(93) ", "13-05-2026 11:33:48", "z"}, // row 2
		{2, "MK-2"},                        // row 3: short, free
		{},                                 // row 4: empty, skipped
		{3, nil, "other", nil, nil, "set"}, // row 5: blank where it matters, skipped
		{4, 1234.0, nil, "JP(12)", 46155.48180555556}, // row 6: numbers
		{5, "", nil, "JP(12)"},                        // row 7: holder without tag, no date cell
		{6, "MK-7", nil, "", "  "},                    // row 8: blank date
		{7, "MK-8", nil, "AR(1)", true},               // row 9: invalid date
	}
	rows, err := ParseGrid(grid, loc)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, loc)
	want := []jobs.Row{
		{Number: 2, Tag: " MK-1 ", Holder: " MR(93) ", Date: "13-05-2026 11:33:48", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 3, Tag: "MK-2", DateState: jobs.DateMissing},
		{Number: 6, Tag: "1234", Holder: "JP(12)", Date: "46155.48180555556", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 7, Holder: "JP(12)", DateState: jobs.DateMissing},
		{Number: 8, Tag: "MK-7", Date: "  ", DateState: jobs.DateMissing},
		{Number: 9, Tag: "MK-8", Holder: "AR(1)", Date: "TRUE", DateState: jobs.DateInvalid},
	}
	assertRows(t, rows, want)
}

func TestParseGridErrors(t *testing.T) {
	if _, err := ParseGrid(nil, nil); err == nil {
		t.Error("empty grid: no error")
	}
	_, err := ParseGrid([][]any{{"TAG_SPOOL", "Ocupado_Por"}, {"a", "b"}}, nil)
	var merr *MissingColumnsError
	if !errors.As(err, &merr) {
		t.Errorf("missing column: %v", err)
	}
	rows, err := ParseGrid([][]any{{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"}}, nil)
	if err != nil || len(rows) != 0 {
		t.Errorf("header only: %v, %v", rows, err)
	}
}

// assertRows compares rows field by field (times with Equal).
func assertRows(t *testing.T, got, want []jobs.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Number != w.Number || g.Tag != w.Tag || g.Holder != w.Holder || g.Date != w.Date ||
			g.DateState != w.DateState || !g.OccupiedAt.Equal(w.OccupiedAt) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// sameRows fails unless fast and slow are the same rows, field by field (times as instants in
// the same zone).
func sameRows(t *testing.T, fast, slow []jobs.Row) {
	t.Helper()
	if len(fast) != len(slow) {
		t.Fatalf("fast path %d rows, client %d", len(fast), len(slow))
	}
	for i := range slow {
		f, s := fast[i], slow[i]
		if f.Number != s.Number || f.Tag != s.Tag || f.Holder != s.Holder || f.Date != s.Date || f.DateState != s.DateState ||
			!f.OccupiedAt.Equal(s.OccupiedAt) || f.OccupiedAt.Location().String() != s.OccupiedAt.Location().String() {
			t.Fatalf("row %d:\nfast   %+v\nclient %+v", i, f, s)
		}
	}
}

// TestParseTextColumnsAsGrid: parseTextColumns gives what parseRows gives for the grid of the
// same cells, whatever the columns' lengths and first rows.
func TestParseTextColumnsAsGrid(t *testing.T) {
	loc := santiago(t)
	cells := []string{"", " ", "MK-1", "MR(93)", "13-05-2026 11:33:48", "46155.5", "x", "\t", "2026-05-13T15:33:48Z", "TRUE"}
	for seed := range 2000 {
		var cols [3][]string
		var first [3]int
		r := seed
		next := func(n int) int { r = r*1103515245 + 12345; return int(uint(r)>>8) % n }
		for i := range cols {
			if next(5) == 0 {
				continue // an empty column: no values
			}
			first[i] = next(3)
			cols[i] = make([]string, next(8))
			for j := range cols[i] {
				cols[i][j] = cells[next(len(cells))]
			}
		}
		height := 0
		for i := range cols {
			if len(cols[i]) > 0 {
				height = max(height, first[i]+len(cols[i]))
			}
		}
		grid := make([][]any, height)
		for k := range grid {
			grid[k] = make([]any, 3)
		}
		for i := range cols {
			for j, c := range cols[i] {
				grid[first[i]+j][i] = c
			}
		}
		got := parseTextColumns(cols, first, loc)
		want := parseRows(grid, 1, Columns{Tag: 0, Holder: 1, Date: 2}, loc)
		sameRows(t, got, want)
	}
}
