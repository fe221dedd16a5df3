package sheets

import (
	"errors"
	"reflect"
	"strings"
	"testing"
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
	tests := []struct {
		name   string
		header []any
		want   Columns
	}{
		{"real sheet: TAG_SPOOL (G), not SPLIT (F)", fixture, Columns{Tag: 6, Holder: 66, Date: 67, TagHeader: "TAG_SPOOL"}},
		{"SPLIT only where TAG_SPOOL is absent", withoutTagSpool, Columns{Tag: 5, Holder: 66, Date: 67, TagHeader: "SPLIT"}},
		{"normalized: case, spaces, _ and /", anyRow("Tag Spool", " ocupado por ", "FECHA/OCUPACION"), Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL"}},
		{"tabs and non-breaking spaces", anyRow("TAG\tSPOOL", "Ocupado\u00a0Por", "Fecha_Ocupacion"), Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: "TAG_SPOOL"}},
		{"numeric header cells", []any{1234.0, "TAG_SPOOL", nil, true, "Ocupado_Por", "Fecha_Ocupacion"}, Columns{Tag: 1, Holder: 4, Date: 5, TagHeader: "TAG_SPOOL"}},
		{"leftmost duplicate wins", anyRow("SPLIT", "TAG_SPOOL", "Ocupado_Por", "TAG SPOOL", "Fecha_Ocupacion", "Ocupado_Por"), Columns{Tag: 1, Holder: 2, Date: 4, TagHeader: "TAG_SPOOL"}},
		{"split alias before the others", anyRow("split", "Fecha_Ocupacion", "Ocupado_Por"), Columns{Tag: 0, Holder: 2, Date: 1, TagHeader: "SPLIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MapHeader(tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("MapHeader = %+v, want %+v", got, tt.want)
			}
		})
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

func TestNormalizeHeader(t *testing.T) {
	for in, want := range map[string]string{
		"TAG_SPOOL":         "tagspool",
		" Ocupado / Por ":   "ocupadopor",
		"Fecha_Ocupación":   "fechaocupación",
		"OK NDT si/no/Rep":  "okndtsinorep",
		"N°_Informe_UT_ RX": "n°informeutrx",
		"ÑANDÚ":             "ñandú",
	} {
		if got := normalizeHeader(in); got != want {
			t.Errorf("normalizeHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
