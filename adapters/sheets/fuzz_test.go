package sheets

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"reconciler/jobs"
)

// FuzzParseDate: any text or number gives one of the three states without panicking; a valid
// date lies between 1899-12-30 and the year 10000; blank text is missing; and a serial number
// maps back to itself within half a second.
func FuzzParseDate(f *testing.F) {
	f.Add("13-05-2026 11:33:48", 46155.48180555556)
	f.Add("2026-05-13T15:33:48Z", 0.0)
	f.Add("06-09-2026 00:30:00", 2958465.999)
	f.Add(" 46155,5 ", -1.0)
	f.Add("", math.Inf(1))
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		f.Fatal(err)
	}
	low := time.Date(1899, 12, 29, 0, 0, 0, 0, time.UTC) // serial 0 is 1899-12-30, wall clock
	high := time.Date(10000, 1, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text string, serial float64) {
		for _, l := range []*time.Location{loc, time.UTC} {
			got, state := ParseDate(text, l)
			switch state {
			case jobs.DateMissing:
				if strings.TrimSpace(text) != "" {
					t.Fatalf("ParseDate(%q) = missing", text)
				}
			case jobs.DateValid:
				if got.IsZero() {
					t.Fatalf("ParseDate(%q) is valid but zero", text)
				}
				if got.Before(low) || got.After(high) {
					t.Fatalf("ParseDate(%q) = %v, out of range", text, got)
				}
			case jobs.DateInvalid:
				if strings.TrimSpace(text) == "" {
					t.Fatalf("ParseDate(%q) = invalid, want missing", text)
				}
			default:
				t.Fatalf("state %v", state)
			}
		}

		got, state := ParseDate(serial, time.UTC)
		ok := !math.IsNaN(serial) && !math.IsInf(serial, 0) && serial >= 0 && serial < maxSerial
		if (state == jobs.DateValid) != ok {
			t.Fatalf("ParseDate(%v) = %v, want valid=%v", serial, state, ok)
		}
		if ok {
			if back := serialOf(got, time.UTC); math.Abs(back-serial)*86400 > 0.5+1e-3 {
				t.Fatalf("serial %v → %v → %v", serial, got, back)
			}
			if _, st := ParseDate(serial, loc); st != jobs.DateValid {
				t.Fatalf("serial %v invalid in Santiago", serial)
			}
		}
	})
}

// backendHolder is the backend's own pattern for Ocupado_Por.
var backendHolder = regexp.MustCompile(`\(([0-9]+)\)$`)

// FuzzParseHolder checks jobs.ParseHolder: no panic; ok means a positive int32 id written in
// the trimmed holder as "(digits)" at its end; and it agrees with the backend's pattern.
func FuzzParseHolder(f *testing.F) {
	for _, s := range []string{"MR(93)", " MR(93) ", "MR(0)", "MR(abc)", "(2147483647)", "(2147483648)", "MR(007)", "MR(93) x", "((1))", ")", "(", "()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, holder string) {
		id, ok := jobs.ParseHolder(holder)
		h := strings.TrimSpace(holder)
		if !ok {
			if id != 0 {
				t.Fatalf("ParseHolder(%q) = %d, false", holder, id)
			}
		} else {
			if id <= 0 || id > math.MaxInt32 {
				t.Fatalf("ParseHolder(%q) = %d", holder, id)
			}
			open := strings.LastIndexByte(h, '(')
			if !strings.HasSuffix(h, ")") || open < 0 {
				t.Fatalf("ParseHolder(%q) ok without (ID) at the end", holder)
			}
			n, err := strconv.Atoi(h[open+1 : len(h)-1])
			if err != nil || n != id || !strings.HasSuffix(h, "("+h[open+1:len(h)-1]+")") {
				t.Fatalf("ParseHolder(%q) = %d, but the holder ends with %q", holder, id, h[open:])
			}
		}
		// The backend's pattern on the trimmed value (leading zeros allowed, as its int()
		// does), with the int32 limit. Python's \d also matches non-ASCII digits; ParseHolder
		// reports those as invalid_holder on purpose, and Go's \d is ASCII, so they agree here.
		want, comparable := false, true
		if m := backendHolder.FindStringSubmatch(h); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			want = err == nil && n > 0 && n <= math.MaxInt32
			comparable = err == nil || strings.TrimLeft(m[1], "0") != ""
		}
		if comparable && ok != want {
			t.Fatalf("ParseHolder(%q) ok=%v, the backend's pattern says %v", holder, ok, want)
		}
	})
}

// FuzzCSV: any file gives rows or an error, never a panic or a hang; rows are numbered from 2
// upwards in order.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("TAG_SPOOL,Ocupado_Por,Fecha_Ocupacion\nMK-1,MR(93),13-05-2026 11:33:48\n"))
	f.Add([]byte("\uFEFFid;TAG_SPOOL;Ocupado_Por;Fecha_Ocupacion\r\n1;MK-1;MR(93);46155,48\r\n2;\"a;\"\"b\";x\n"))
	f.Add([]byte("TAG_SPOOL,Ocupado_Por,Fecha_Ocupacion\nMK-1,\"MR(93),x\n"))
	f.Add([]byte(""))
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.csv")
	r := NewCSV(path, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan struct{})
		var snap jobs.Snapshot
		var err error
		go func() {
			defer close(done)
			snap, err = r.Read(ctx)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("Read hangs on %q", data)
		}
		if err != nil {
			if len(snap.Rows) != 0 {
				t.Fatalf("error %v with %d rows", err, len(snap.Rows))
			}
			if !utf8.ValidString(err.Error()) && utf8.Valid(data) {
				t.Fatalf("error text is not UTF-8: %q", err)
			}
			return
		}
		last := 1
		for _, row := range snap.Rows {
			if row.Number <= last {
				t.Fatalf("row numbers out of order: %d after %d", row.Number, last)
			}
			last = row.Number
		}
	})
}

// pythonColumnMap is a line-by-line transliteration of the backend's build_column_map and its
// tag lookup (TAG_SPOOL, SPLIT, tag_spool), the reference MapHeader's strict keys must agree
// with: every non-empty cell keyed by its normalized text, a cell with "/" also by its first
// part stripped, later columns overwriting earlier ones.
func pythonColumnMap(header []string) map[string]int {
	normalize := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r == '\u0130' {
				b.WriteString("i\u0307")
				continue
			}
			b.WriteRune(unicode.ToLower(r))
		}
		return strings.ReplaceAll(strings.ReplaceAll(b.String(), " ", ""), "_", "")
	}
	m := map[string]int{}
	for idx, name := range header {
		if name == "" {
			continue
		}
		m[normalize(name)] = idx
		if strings.Contains(name, "/") {
			m[normalize(pyStrip(strings.SplitN(name, "/", 2)[0]))] = idx
		}
	}
	return m
}

// FuzzMapHeader: any header row maps without panicking; the three columns found are distinct
// and in range; where the backend's own map finds a column, MapHeader picks the same one (the
// last), TAG_SPOOL before SPLIT; a lenient find happens only where the backend's map has
// nothing; duplicates list the column used last; a failure names what is missing.
func FuzzMapHeader(f *testing.F) {
	f.Add(strings.Join(ProductionHeader(true), "\x00"))
	f.Add(strings.Join(OperacionesHeader(), "\x00"))
	f.Add("SPLIT\x00TAG/SPOOL\x00Ocupado\u00a0Por\x00Fecha_Ocupacion / x\x00Ocupado_Por")
	f.Add("tag_spool / a\x00 TAG SPOOL \x00split\x00OCUPADO POR / \x00FECHA_OCUPACION\x00SPLİT")
	f.Add("")
	f.Fuzz(func(t *testing.T, joined string) {
		cells := strings.Split(joined, "\x00")
		header := make([]any, len(cells))
		for i, c := range cells {
			header[i] = c
		}
		cols, err := MapHeader(header)
		py := pythonColumnMap(cells)
		pyFind := func(names ...string) (int, bool) {
			for _, n := range names {
				if i, ok := py[strings.ReplaceAll(strings.ToLower(n), "_", "")]; ok {
					return i, true
				}
			}
			return -1, false
		}
		if err != nil {
			var merr *MissingColumnsError
			if !errors.As(err, &merr) || len(merr.Missing) == 0 {
				t.Fatalf("err %v is not a MissingColumnsError naming a column", err)
			}
			for _, m := range merr.Missing {
				if m == HeaderTag {
					m = HeaderTagAlias
				}
				if _, ok := pyFind(m); ok {
					t.Fatalf("%s missing, but the backend finds it: %q", m, cells)
				}
			}
			return
		}
		idx := cols.indexes()
		for _, i := range idx {
			if i < 0 || i >= len(cells) {
				t.Fatalf("column %d out of range (%d cells)", i, len(cells))
			}
		}
		if idx[0] == idx[1] || idx[1] == idx[2] || idx[0] == idx[2] {
			t.Fatalf("columns not distinct: %+v for %q", cols, cells)
		}
		lenient := map[string]bool{}
		for _, n := range cols.Lenient {
			lenient[n] = true
		}
		check := func(name string, got int, names ...string) {
			want, ok := pyFind(names...)
			switch {
			case ok && got != want:
				t.Fatalf("%s: column %d, the backend reads %d: %q", name, got, want, cells)
			case ok && lenient[name]:
				t.Fatalf("%s found leniently although the backend finds it: %q", name, cells)
			case !ok && !lenient[name]:
				t.Fatalf("%s found strictly at %d but the backend finds nothing: %q", name, got, cells)
			}
		}
		check(cols.TagHeader, cols.Tag, HeaderTag, HeaderTagAlias)
		if cols.TagHeader == HeaderTagAlias {
			if _, ok := pyFind(HeaderTag); ok {
				t.Fatalf("SPLIT read although the backend finds TAG_SPOOL: %q", cells)
			}
		}
		check(HeaderHolder, cols.Holder, HeaderHolder)
		check(HeaderDate, cols.Date, HeaderDate)
		for _, d := range cols.Duplicates {
			if len(d.Columns) < 2 || d.Used != d.Columns[len(d.Columns)-1] || len(d.Headers) != len(d.Columns) {
				t.Fatalf("bad duplicate %+v", d)
			}
		}
	})
}

// FuzzParseDateDisplay: every wall clock a Chile-locale sheet shows for a date-time (D-M-YYYY
// H:MM:SS and the other display forms) reads back as that wall clock.
func FuzzParseDateDisplay(f *testing.F) {
	f.Add(int64(1767602467), uint8(0))
	f.Add(int64(1775361600), uint8(3))
	f.Add(int64(-2208988800), uint8(5))
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, unix int64, form uint8) {
		at := time.Unix(unix, 0).In(loc)
		if at.Year() < 1900 || at.Year() > 9999 {
			return
		}
		d, m, y, h, mi, s := at.Day(), int(at.Month()), at.Year(), at.Hour(), at.Minute(), at.Second()
		var text string
		switch form % 6 {
		case 0:
			text = fmt.Sprintf("%d-%d-%d %d:%02d:%02d", d, m, y, h, mi, s)
		case 1:
			text, s = fmt.Sprintf("%02d-%02d-%d %d:%02d", d, m, y, h, mi), 0
		case 2:
			text = fmt.Sprintf("%d/%d/%d %d:%02d:%02d", d, m, y, h, mi, s)
		case 3:
			text, s = fmt.Sprintf("%d/%d/%d %d:%02d", d, m, y, h, mi), 0
		case 4:
			text = fmt.Sprintf("%02d-%02d-%d %02d:%02d:%02d", d, m, y, h, mi, s)
		case 5:
			text = fmt.Sprintf("%d-%02d-%02d %02d:%02d:%02d", y, m, d, h, mi, s)
		}
		got, state := ParseDate(text, loc)
		if state != jobs.DateValid {
			t.Fatalf("ParseDate(%q) = %v", text, state)
		}
		// The same wall clock (an hour that daylight saving repeats may resolve to the other
		// occurrence; the wall clock read is still the one shown).
		g := got.In(loc)
		if g.Year() != y || int(g.Month()) != m || g.Day() != d || g.Minute() != mi || g.Second() != s || (g.Hour() != h && !dstEdge(at)) {
			t.Fatalf("ParseDate(%q) = %v, want the wall clock %04d-%02d-%02d %02d:%02d:%02d", text, g, y, m, d, h, mi, s)
		}
	})
}

// dstEdge reports whether t is within an hour of an offset change in its zone.
func dstEdge(t time.Time) bool {
	_, a := t.Add(-time.Hour).Zone()
	_, b := t.Add(time.Hour).Zone()
	return a != b
}
