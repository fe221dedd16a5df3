package sheets

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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
