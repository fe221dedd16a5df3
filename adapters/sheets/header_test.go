package sheets

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestOperacionesHeader pins the embedded copy of the real sheet's header row: the demo, the
// emulator's sheets and the benchmarks all build on it.
func TestOperacionesHeader(t *testing.T) {
	h := OperacionesHeader()
	if len(h) != 75 {
		t.Fatalf("header has %d cells, want 75 (A…BW)", len(h))
	}
	for col, want := range map[int]string{0: "id", 5: "SPLIT", 6: "TAG_SPOOL", 66: "Ocupado_Por", 67: "Fecha_Ocupacion", 74: "Pulgadas_SOLD"} {
		if h[col] != want {
			t.Errorf("header cell %d = %q, want %q", col, h[col], want)
		}
	}
}

func TestMapHeader(t *testing.T) {
	fixture := anyRow(OperacionesHeader()...)
	withoutTagSpool := append([]any(nil), fixture...)
	withoutTagSpool[6] = "TAG"
	holderDup := Duplicate{Name: HeaderHolder, Columns: []int{18, 66}, Headers: []string{"Ocupado Por", "Ocupado_Por"}, Used: 66}
	tests := []struct {
		name   string
		header []any
		want   Columns
	}{
		{"real sheet: TAG_SPOOL (G), not SPLIT (F)", fixture, Columns{Tag: 6, Holder: 66, Date: 67, TagHeader: "TAG_SPOOL"}},
		{"production: TAG_SPOOL / CODIGO_BARRA (G) by its first part", anyRow(ProductionHeader(false)...), Columns{Tag: 6, Holder: 66, Date: 67, TagHeader: "TAG_SPOOL"}},
		{"production with a second Ocupado Por left of the real one: the last wins", anyRow(ProductionHeader(true)...),
			Columns{Tag: 6, Holder: 66, Date: 67, TagHeader: "TAG_SPOOL", Duplicates: []Duplicate{holderDup}}},
		{"SPLIT only where TAG_SPOOL is absent", withoutTagSpool, Columns{Tag: 5, Holder: 66, Date: 67, TagHeader: "SPLIT"}},
		{"backend keys: case, spaces and _", anyRow("Tag Spool", " ocupado por ", "FECHA OCUPACION"), Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL"}},
		{"first part trimmed, split on the first /", anyRow(" tag_spool  / código / barra", "Ocupado_Por/x/y", "Fecha_Ocupacion /"), Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL"}},
		{"last column wins", anyRow("Ocupado_Por", "TAG_SPOOL", "Fecha_Ocupacion", "OCUPADO POR"),
			Columns{Tag: 1, Holder: 3, Date: 2, TagHeader: "TAG_SPOOL", Duplicates: []Duplicate{{Name: HeaderHolder, Columns: []int{0, 3}, Headers: []string{"Ocupado_Por", "OCUPADO POR"}, Used: 3}}}},
		{"a later full header beats an earlier first part", anyRow("Ocupado_Por / notas", "TAG_SPOOL", "Fecha_Ocupacion", "Ocupado_Por"),
			Columns{Tag: 1, Holder: 3, Date: 2, TagHeader: "TAG_SPOOL", Duplicates: []Duplicate{{Name: HeaderHolder, Columns: []int{0, 3}, Headers: []string{"Ocupado_Por / notas", "Ocupado_Por"}, Used: 3}}}},
		{"a later first part beats an earlier full header", anyRow("TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion", "TAG_SPOOL / CODIGO_BARRA"),
			Columns{Tag: 3, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL", Duplicates: []Duplicate{{Name: HeaderTag, Columns: []int{0, 3}, Headers: []string{"TAG_SPOOL", "TAG_SPOOL / CODIGO_BARRA"}, Used: 3}}}},
		{"SPLIT beside TAG_SPOOL is no duplicate", anyRow("SPLIT", "TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion", "split"), Columns{Tag: 1, Holder: 2, Date: 3, TagHeader: "TAG_SPOOL"}},
		{"split alias before the others", anyRow("split", "Fecha_Ocupacion", "Ocupado_Por"), Columns{Tag: 0, Holder: 2, Date: 1, TagHeader: "SPLIT"}},
		{"the backend's SPLIT beats a lenient TAG_SPOOL", anyRow("SPLIT", "TAG/SPOOL", "Ocupado_Por", "Fecha_Ocupacion"), Columns{Tag: 0, Holder: 2, Date: 3, TagHeader: "SPLIT"}},
		{"lenient only where the backend finds nothing: / inside a name", anyRow("TAG/SPOOL", "Ocupado_Por", "FECHA/OCUPACION"),
			Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL", Lenient: []string{HeaderTag, HeaderDate}}},
		{"lenient: tabs and non-breaking spaces (the backend removes only U+0020)", anyRow("TAG\tSPOOL", "Ocupado\u00a0Por", "Fecha_Ocupacion"),
			Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL", Lenient: []string{HeaderTag, HeaderHolder}}},
		{"a backend key beats a lenient one on its left and right", anyRow("Ocupado\u00a0Por", "Ocupado_Por", "TAG_SPOOL", "Fecha_Ocupacion", "Ocupado/Por"),
			Columns{Tag: 2, Holder: 1, Date: 3, TagHeader: "TAG_SPOOL"}},
		{"numeric header cells", []any{1234.0, "TAG_SPOOL", nil, true, "Ocupado_Por", "Fecha_Ocupacion"}, Columns{Tag: 1, Holder: 4, Date: 5, TagHeader: "TAG_SPOOL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MapHeader(tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MapHeader = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestMapHeaderPythonLower: Python's lower() turns "İ" into "i" plus a combining dot, so the
// backend does not read "SPLİT" as SPLIT; neither does the worker.
func TestMapHeaderPythonLower(t *testing.T) {
	_, err := MapHeader(anyRow("SPLİT", "Ocupado_Por", "Fecha_Ocupacion"))
	var merr *MissingColumnsError
	if !errors.As(err, &merr) || !reflect.DeepEqual(merr.Missing, []string{HeaderTag}) {
		t.Fatalf("err = %v, want TAG_SPOOL missing", err)
	}
}

// TestHeaderWarningsOnce: a needed name on two columns is logged once per reader and header
// layout, not on every read; another layout is logged again.
func TestHeaderWarningsOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	path := filepath.Join(t.TempDir(), "sheet.csv")
	write := func(header string) {
		if err := os.WriteFile(path, []byte(header+"\nMK-1,x,MR(93),13-05-2026 11:33:48\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := NewCSV(path, time.UTC).WithLogger(log)
	write("TAG_SPOOL / CODIGO_BARRA,Ocupado Por,Ocupado_Por,Fecha_Ocupacion")
	for range 3 {
		snap, err := r.Read(context.Background())
		if err != nil || len(snap.Rows) != 1 || snap.Rows[0].Holder != "MR(93)" || snap.Rows[0].Tag != "MK-1" {
			t.Fatalf("Read = %+v, %v", snap.Rows, err)
		}
	}
	if n := strings.Count(buf.String(), "more than one column"); n != 1 {
		t.Fatalf("%d warnings after 3 reads, want 1:\n%s", n, buf.String())
	}
	for _, s := range []string{`name=Ocupado_Por`, `B \"Ocupado Por\", C \"Ocupado_Por\"`, "reading=C"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("warning lacks %s:\n%s", s, buf.String())
		}
	}
	write("TAG_SPOOL,Ocupado_Por,Ocupado Por,Fecha_Ocupacion")
	if _, err := r.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "more than one column"); n != 2 {
		t.Fatalf("%d warnings after a new layout, want 2:\n%s", n, buf.String())
	}
}

func TestMapHeaderMissing(t *testing.T) {
	fixture := anyRow(OperacionesHeader()...)
	noHolder := append([]any(nil), fixture...)
	noHolder[66] = "Ocupado"
	accented := append([]any(nil), fixture...)
	accented[67] = "Fecha_Ocupación" // accents are kept: this is another name
	tests := []struct {
		name     string
		header   []any
		missing  []string
		contains []string
	}{
		{"holder", noHolder, []string{"Ocupado_Por"}, []string{`"Ocupado_Por"`, `"Ubicación"`, `"PLANO_KRONOS N°"`, `"N°_Informe_UT_ RX"`, `headers found (75)`}},
		{"accented date", accented, []string{"Fecha_Ocupacion"}, []string{`no column "Fecha_Ocupacion"`, `"Fecha_Ocupación"`}},
		{"all three", anyRow("id", "NV"), []string{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"}, []string{`"TAG_SPOOL" (or "SPLIT")`, `"Ocupado_Por"`, `"Fecha_Ocupacion"`, `"id", "NV"`}},
		{"empty row 1", nil, []string{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"}, []string{"none (row 1 is empty)"}},
		{"blank cells only", []any{"", nil, "  "}, []string{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"}, []string{"none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MapHeader(tt.header)
			var merr *MissingColumnsError
			if !errors.As(err, &merr) {
				t.Fatalf("err = %v, want a *MissingColumnsError", err)
			}
			if !reflect.DeepEqual(merr.Missing, tt.missing) {
				t.Errorf("Missing = %q, want %q", merr.Missing, tt.missing)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestHeaderKeys(t *testing.T) {
	for in, want := range map[string][2]string{
		"TAG_SPOOL":                {"tagspool", "tagspool"},
		"TAG_SPOOL / CODIGO_BARRA": {"tagspool/codigobarra", "tagspoolcodigobarra"},
		" Ocupado / Por ":          {"ocupado/por", "ocupadopor"},
		"Fecha_Ocupación":          {"fechaocupación", "fechaocupación"},
		"OK NDT si/no/Rep":         {"okndtsi/no/rep", "okndtsinorep"},
		"N°_Informe_UT_ RX":        {"n°informeutrx", "n°informeutrx"},
		"Ocupado\u00a0Por\t":       {"ocupado\u00a0por\t", "ocupadopor"},
		"ÑANDÚ":                    {"ñandú", "ñandú"},
		"SPLİT":                    {"spli\u0307t", "spli\u0307t"},
	} {
		if got := backendKey(in); got != want[0] {
			t.Errorf("backendKey(%q) = %q, want %q", in, got, want[0])
		}
		if got := lenientKey(in); got != want[1] {
			t.Errorf("lenientKey(%q) = %q, want %q", in, got, want[1])
		}
	}
}
