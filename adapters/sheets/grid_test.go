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
