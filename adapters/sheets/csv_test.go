package sheets

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"reconciler/jobs"
)

// writeCSV writes a grid as a CSV export with the given delimiter (cells through CellText).
func writeCSV(t *testing.T, grid [][]any, comma rune, bom bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "operaciones.csv")
	var b strings.Builder
	if bom {
		b.WriteString("\uFEFF")
	}
	w := csv.NewWriter(&b)
	w.Comma = comma
	width := len(grid[0])
	for _, row := range grid {
		rec := make([]string, width) // an export writes every column
		for i, cell := range row {
			rec[i] = CellText(cell)
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	writeFile(t, path, b.String())
	return path
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readCSV(t *testing.T, path string) ([]jobs.Row, error) {
	t.Helper()
	before := time.Now()
	snap, err := NewCSV(path, santiago(t)).Read(context.Background())
	if snap.ReadAt.Before(before) || snap.ReadAt.After(time.Now()) || snap.Requests != 0 {
		t.Errorf("ReadAt %v, Requests %d", snap.ReadAt, snap.Requests)
	}
	return snap.Rows, err
}

func TestCSVExports(t *testing.T) {
	for _, tt := range []struct {
		name  string
		comma rune
		bom   bool
	}{
		{"comma", ',', false},
		{"comma with BOM", ',', true},
		{"semicolon", ';', false},
		{"semicolon with BOM", ';', true},
		{"tab", '\t', false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := readCSV(t, writeCSV(t, operaciones(t), tt.comma, tt.bom))
			if err != nil {
				t.Fatal(err)
			}
			assertRows(t, rows, operacionesRows(t))
		})
	}
}

func TestCSVHandWritten(t *testing.T) {
	loc := santiago(t)
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, loc)
	path := filepath.Join(t.TempDir(), "x.csv")
	// A semicolon export from a Spanish-locale sheet: decimal commas, a quoted cell holding the
	// delimiter, a quote and a line break, and CRLF line ends.
	writeFile(t, path, "\uFEFFid;TAG_SPOOL;Notas;Ocupado_Por;Fecha_Ocupacion\r\n"+
		"1;MK-1;\"a;b \"\"c\"\"\r\nsegunda línea\";MR(93);46155,48180555556\r\n"+
		"2;MK-2;;JP(12);13-05-2026 11:33:48\r\n"+
		"3;MK-3\r\n")
	rows, err := readCSV(t, path)
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, rows, []jobs.Row{
		{Number: 2, Tag: "MK-1", Holder: "MR(93)", Date: "46155,48180555556", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 3, Tag: "MK-2", Holder: "JP(12)", Date: "13-05-2026 11:33:48", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 4, Tag: "MK-3"},
	})

	// Re-read on every Read.
	writeFile(t, path, "TAG_SPOOL,Ocupado_Por,Fecha_Ocupacion\nMK-9,AR(1),\n")
	rows, err = readCSV(t, path)
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, rows, []jobs.Row{{Number: 2, Tag: "MK-9", Holder: "AR(1)"}})
}

func TestCSVErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data string
		want       []string
	}{
		{"empty", "", []string{"empty"}},
		{"BOM only", "\uFEFF \n", []string{"empty"}},
		{"unterminated quote", "TAG_SPOOL,Ocupado_Por,Fecha_Ocupacion\nMK-1,\"MR(93),x\n", []string{"line 2", "extraneous or missing \" in quoted-field"}},
		{"bare quote", "TAG_SPOOL,Ocupado_Por,Fecha_Ocupacion\nMK-1,MR(93),x\nMK-2,M\"R,x\n", []string{"line 3", "column 7", `bare "`}},
		{"semicolon bad quoting", "TAG_SPOOL;Ocupado_Por;Fecha_Ocupacion\nMK-1;\"MR\"(93);x\n", []string{"line 2", `';'`}},
		{"missing column", "TAG_SPOOL;Ocupado_Por\nMK-1;MR(93)\n", []string{`no column "Fecha_Ocupacion"`, `"TAG_SPOOL", "Ocupado_Por"`}},
		{"wrong delimiter guess", "TAG_SPOOL|Ocupado_Por|Fecha_Ocupacion\n", []string{`no column "TAG_SPOOL"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".csv")
			writeFile(t, path, tt.data)
			_, err := readCSV(t, path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	_, err := NewCSV(filepath.Join(dir, "missing.csv"), nil).Read(context.Background())
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewCSV(filepath.Join(dir, "missing.csv"), nil).Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestDetectDelimiter(t *testing.T) {
	for in, want := range map[string]rune{
		"a,b,c\n1;2;3;4;5":          ',',
		"a;b;c\n":                   ';',
		"\"x,y,z\";b;c":             ';',
		"a\tb\tc":                   '\t',
		"single":                    ',',
		"a,b;c":                     ',',
		"\"unterminated,,,;\nfoo;b": ',',
	} {
		if got := detectDelimiter([]byte(in)); got != want {
			t.Errorf("detectDelimiter(%q) = %q, want %q", in, got, want)
		}
	}
}
