package sheets

import "testing"

func TestColumnLetters(t *testing.T) {
	for col, want := range map[int]string{0: "A", 5: "F", 6: "G", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 66: "BO", 67: "BP", 74: "BW", 701: "ZZ", 702: "AAA", 16383: "XFD"} {
		if got := columnLetters(col); got != want {
			t.Errorf("columnLetters(%d) = %q, want %q", col, got, want)
		}
	}
}

func TestRanges(t *testing.T) {
	if got := columnRange("Operaciones", 66); got != "'Operaciones'!BO:BO" {
		t.Errorf("columnRange = %q", got)
	}
	if got := headerRange("It's a tab"); got != "'It''s a tab'!1:1" {
		t.Errorf("headerRange = %q", got)
	}
	if got := quoteSheet("''"); got != "''''''" {
		t.Errorf("quoteSheet = %q", got)
	}
	for in, want := range map[string]int{
		"Operaciones!G1:G1000": 1,
		"'It''s'!G2:G9":        2,
		"'a!b'!BO15:BO20":      15,
		"Operaciones!G:G":      1,
		"":                     1,
		"garbage":              1,
	} {
		if got := rangeStartRow(in); got != want {
			t.Errorf("rangeStartRow(%q) = %d, want %d", in, got, want)
		}
	}
}
