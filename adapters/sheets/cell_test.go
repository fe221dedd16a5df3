package sheets

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"reconciler/jobs"
)

func TestParseDate(t *testing.T) {
	loc := santiago(t)
	at := func(y int, mo time.Month, d, h, mi, s int) time.Time { return time.Date(y, mo, d, h, mi, s, 0, loc) }
	want1133 := at(2026, 5, 13, 11, 33, 48)
	tests := []struct {
		name  string
		cell  any
		state jobs.DateState
		want  time.Time
	}{
		{"nil", nil, jobs.DateMissing, time.Time{}},
		{"empty", "", jobs.DateMissing, time.Time{}},
		{"white space", " \t\n ", jobs.DateMissing, time.Time{}},

		{"backend format", "13-05-2026 11:33:48", jobs.DateValid, want1133},
		{"trimmed", "  13-05-2026 11:33:48\n", jobs.DateValid, want1133},
		{"no seconds", "13-05-2026 11:33", jobs.DateValid, at(2026, 5, 13, 11, 33, 0)},
		{"slashes", "13/05/2026 11:33:48", jobs.DateValid, want1133},
		{"ISO-like", "2026-05-13 11:33:48", jobs.DateValid, want1133},
		{"RFC 3339 offset", "2026-05-13T11:33:48-04:00", jobs.DateValid, want1133},
		{"RFC 3339 other offset", "2026-05-13T17:33:48+02:00", jobs.DateValid, want1133},
		{"RFC 3339 Z", "2026-05-13T15:33:48Z", jobs.DateValid, want1133},
		{"RFC 3339 fraction", "2026-05-13T15:33:48.25Z", jobs.DateValid, want1133.Add(250 * time.Millisecond)},
		{"date only", "13-05-2026", jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"single digits", "3-5-2026 9:05:00", jobs.DateValid, at(2026, 5, 3, 9, 5, 0)},
		{"Chile display: D-M-YYYY H:MM:SS", "5-1-2026 8:41:07", jobs.DateValid, at(2026, 1, 5, 8, 41, 7)},
		{"Chile display: DD-MM-YYYY H:MM", "05-01-2026 8:41", jobs.DateValid, at(2026, 1, 5, 8, 41, 0)},
		{"Chile display: D/M/YYYY H:MM:SS", "5/1/2026 8:41:07", jobs.DateValid, at(2026, 1, 5, 8, 41, 7)},
		{"Chile display: D/M/YYYY H:MM", "5/1/2026 18:41", jobs.DateValid, at(2026, 1, 5, 18, 41, 0)},
		{"Chile display: DD/MM/YYYY date only", "05/01/2026", jobs.DateValid, at(2026, 1, 5, 0, 0, 0)},
		{"ISO-like without seconds", "2026-1-5 8:41", jobs.DateValid, at(2026, 1, 5, 8, 41, 0)},
		{"display with fraction of a second", "5-1-2026 8:41:07.000", jobs.DateValid, at(2026, 1, 5, 8, 41, 7)},
		{"single-digit minute", "5-1-2026 8:4:07", jobs.DateInvalid, time.Time{}},
		{"summer time", "15-01-2026 10:00:00", jobs.DateValid, time.Date(2026, 1, 15, 13, 0, 0, 0, time.UTC)},

		{"serial", 46155.48180555556, jobs.DateValid, want1133},
		{"serial text", "46155.48180555556", jobs.DateValid, want1133},
		{"serial text, decimal comma", " 46155,48180555556 ", jobs.DateValid, want1133},
		{"serial json.Number", json.Number("46155.48180555556"), jobs.DateValid, want1133},
		{"serial int", 46155, jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"serial int64", int64(46155), jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"serial float32", float32(46155), jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"serial uint16", uint16(46155), jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"serial uint64", uint64(46155), jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"serial text integer", "46155", jobs.DateValid, at(2026, 5, 13, 0, 0, 0)},
		{"serial rounds up to the next day", 46155.999999999, jobs.DateValid, at(2026, 5, 14, 0, 0, 0)},
		{"serial rounds to the nearest second", 46155.5 + 0.4/86400, jobs.DateValid, at(2026, 5, 13, 12, 0, 0)},
		{"serial half a day", 0.5, jobs.DateValid, time.Date(1899, 12, 30, 12, 0, 0, 0, loc)},
		{"serial 31-12-9999", 2958465.5, jobs.DateValid, time.Date(9999, 12, 31, 12, 0, 0, 0, loc)},

		{"text", "ayer", jobs.DateInvalid, time.Time{}},
		{"31 February", "31-02-2026 10:00:00", jobs.DateInvalid, time.Time{}},
		{"hour 25", "13-05-2026 25:00:00", jobs.DateInvalid, time.Time{}},
		{"ISO date only", "2026-05-13", jobs.DateInvalid, time.Time{}},
		{"two-digit year", "13-05-26 11:33", jobs.DateInvalid, time.Time{}},
		{"US order", "05/13/2026 11:33:48", jobs.DateInvalid, time.Time{}},
		{"trailing text", "13-05-2026 11:33:48 hrs", jobs.DateInvalid, time.Time{}},
		{"RFC 3339 without zone", "2026-05-13T11:33:48", jobs.DateInvalid, time.Time{}},
		{"true", true, jobs.DateInvalid, time.Time{}},
		{"false", false, jobs.DateInvalid, time.Time{}},
		{"NaN", math.NaN(), jobs.DateInvalid, time.Time{}},
		{"+Inf", math.Inf(1), jobs.DateInvalid, time.Time{}},
		{"negative", -1.0, jobs.DateInvalid, time.Time{}},
		{"negative int", -46155, jobs.DateInvalid, time.Time{}},
		{"negative int8", int8(-1), jobs.DateInvalid, time.Time{}},
		{"a named number type", time.Duration(46155), jobs.DateInvalid, time.Time{}},
		{"year 10000", 2958466.0, jobs.DateInvalid, time.Time{}},
		{"absurd", 1e300, jobs.DateInvalid, time.Time{}},
		{"text NaN", "NaN", jobs.DateInvalid, time.Time{}},
		{"text Inf", "Inf", jobs.DateInvalid, time.Time{}},
		{"text exponent", "4.6e4", jobs.DateInvalid, time.Time{}},
		{"text hex", "0x10", jobs.DateInvalid, time.Time{}},
		{"text negative", "-5", jobs.DateInvalid, time.Time{}},
		{"text underscores", "46_155", jobs.DateInvalid, time.Time{}},
		{"text dangling dot", "46155.", jobs.DateInvalid, time.Time{}},
		{"text two separators", "46.155,5", jobs.DateInvalid, time.Time{}},
		{"bad json.Number", json.Number("x"), jobs.DateInvalid, time.Time{}},
		{"slice", []any{1}, jobs.DateInvalid, time.Time{}},
		{"map", map[string]any{}, jobs.DateInvalid, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, state := ParseDate(tt.cell, loc)
			if state != tt.state {
				t.Fatalf("ParseDate(%#v) state = %v, want %v (time %v)", tt.cell, state, tt.state, got)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseDate(%#v) = %v, want %v", tt.cell, got, tt.want)
			}
			if state == jobs.DateValid && got.Location() != loc {
				t.Errorf("location = %v, want %v", got.Location(), loc)
			}
		})
	}
}

// The example of the brief: 46155.48180555556 is 13-05-2026 11:33:48 in Santiago, ±1 s.
func TestParseDateSerialExample(t *testing.T) {
	loc := santiago(t)
	got, state := ParseDate(46155.48180555556, loc)
	want := time.Date(2026, 5, 13, 11, 33, 48, 0, loc)
	if state != jobs.DateValid || got.Sub(want).Abs() > time.Second {
		t.Fatalf("got %v (%v), want %v", got, state, want)
	}
	if s := got.Format("02-01-2006 15:04:05 -07"); s != "13-05-2026 11:33:48 -04" {
		t.Errorf("formatted = %s", s)
	}
}

// Santiago's 2026 transitions, checked against the embedded tzdata: on 2026-04-05 at 03:00
// UTC clocks go back from 24:00 -03 to 23:00 -04 of the 4th (23:00–23:59 happens twice); on
// 2026-09-06 at 04:00 UTC they jump from 24:00 -04 to 01:00 -03 (00:00–00:59 never happens).
func TestParseDateDaylightSaving(t *testing.T) {
	loc := santiago(t)
	utc := func(mo time.Month, d, h, mi int) time.Time { return time.Date(2026, mo, d, h, mi, 0, 0, time.UTC) }

	// The transitions are where the test says they are.
	if _, off := utc(4, 5, 2, 59).In(loc).Zone(); off != -3*3600 {
		t.Fatalf("offset before 2026-04-05 03:00 UTC = %d", off)
	}
	if _, off := utc(4, 5, 3, 0).In(loc).Zone(); off != -4*3600 {
		t.Fatalf("offset at 2026-04-05 03:00 UTC = %d", off)
	}
	if _, off := utc(9, 6, 3, 59).In(loc).Zone(); off != -4*3600 {
		t.Fatalf("offset before 2026-09-06 04:00 UTC = %d", off)
	}
	if _, off := utc(9, 6, 4, 0).In(loc).Zone(); off != -3*3600 {
		t.Fatalf("offset at 2026-09-06 04:00 UTC = %d", off)
	}

	tests := []struct {
		name string
		cell any
		want time.Time
	}{
		{"before the repeated hour", "04-04-2026 22:59:59", utc(4, 5, 1, 59).Add(59 * time.Second)},
		{"repeated hour: first occurrence (-03)", "04-04-2026 23:30:00", utc(4, 5, 2, 30)},
		{"repeated hour as a serial", serialOf(time.Date(2026, 4, 4, 23, 30, 0, 0, time.UTC), time.UTC), utc(4, 5, 2, 30)},
		{"after the repeated hour", "05-04-2026 00:30:00", utc(4, 5, 4, 30)},
		{"before the skipped hour", "05-09-2026 23:59:00", utc(9, 6, 3, 59)},
		{"skipped hour: offset before the jump (-04)", "06-09-2026 00:30:00", utc(9, 6, 4, 30).Add(-time.Hour)},
		{"skipped midnight, date only", "06-09-2026", utc(9, 6, 4, 0).Add(-time.Hour)},
		{"skipped hour as a serial", serialOf(time.Date(2026, 9, 6, 0, 30, 0, 0, time.UTC), time.UTC), utc(9, 6, 3, 30)},
		{"after the skipped hour", "06-09-2026 01:00:00", utc(9, 6, 4, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, state := ParseDate(tt.cell, loc)
			if state != jobs.DateValid || !got.Equal(tt.want) {
				t.Errorf("ParseDate(%v) = %v (%v), want %v", tt.cell, got.UTC(), state, tt.want)
			}
		})
	}

	// Ages are instants subtracted: noon to noon across the April change is 25 h.
	a, _ := ParseDate("04-04-2026 12:00:00", loc)
	b, _ := ParseDate("05-04-2026 12:00:00", loc)
	if d := b.Sub(a); d != 25*time.Hour {
		t.Errorf("noon to noon across the April change = %s, want 25h", d)
	}
	a, _ = ParseDate("05-09-2026 12:00:00", loc)
	b, _ = ParseDate("06-09-2026 12:00:00", loc)
	if d := b.Sub(a); d != 23*time.Hour {
		t.Errorf("noon to noon across the September change = %s, want 23h", d)
	}
}

func TestParseDateNilLocation(t *testing.T) {
	got, state := ParseDate("13-05-2026 11:33:48", nil)
	if state != jobs.DateValid || !got.Equal(time.Date(2026, 5, 13, 11, 33, 48, 0, time.UTC)) {
		t.Errorf("nil location: %v %v", got, state)
	}
	if _, state := ParseDate(46155.5, nil); state != jobs.DateValid {
		t.Errorf("nil location serial: %v", state)
	}
}

func TestCellText(t *testing.T) {
	tests := []struct {
		cell any
		want string
	}{
		{nil, ""},
		{"", ""},
		{"  MR(93) ", "  MR(93) "},
		{1234.0, "1234"},
		{1234.5, "1234.5"},
		{0.1, "0.1"},
		{46155.48180555556, "46155.48180555556"},
		{1e21, "1000000000000000000000"},
		{1.5e-7, "0.00000015"},
		{-0.0, "0"},
		{-12.0, "-12"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{float32(0.1), "0.1"},
		{7, "7"},
		{int64(-9), "-9"},
		{uint8(200), "200"},
		{uint64(math.MaxUint64), "18446744073709551615"}, // exact, not rounded through float64
		{int64(math.MinInt64), "-9223372036854775808"},
		{time.Duration(90), "90ns"}, // a named type keeps its own String
		{json.Number("12.50"), "12.50"},
		{true, "TRUE"},
		{false, "FALSE"},
		{[]int{1}, "[1]"},
	}
	for _, tt := range tests {
		if got := CellText(tt.cell); got != tt.want {
			t.Errorf("CellText(%#v) = %q, want %q", tt.cell, got, tt.want)
		}
	}
}

func TestParseDateImplausibleYears(t *testing.T) {
	for _, s := range []string{"1-1-0000", "13-05-0226 10:00:00", "31-12-1899 23:59:59", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"} {
		if _, state := ParseDate(s, santiago(t)); state != jobs.DateInvalid {
			t.Errorf("ParseDate(%q) = %v, want invalid", s, state)
		}
	}
	if _, state := ParseDate("01-01-1900 00:00:00", santiago(t)); state != jobs.DateValid {
		t.Errorf("1900 is plausible")
	}
}
