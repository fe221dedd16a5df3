package sheets

import (
	"math/rand/v2"
	"testing"
	"time"
)

// layoutsParse is the reading fastWallClock shortcuts: the first wall-clock layout that parses.
func layoutsParse(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range wallClockLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// checkWallClock: where the shortcut answers, the layouts give the same instant in the same
// zone; where a layout parses a common form, the shortcut answers too; where mayBeWallClock
// says no, no layout parses.
func checkWallClock(t *testing.T, s string, loc *time.Location) {
	t.Helper()
	want, wantOK := layoutsParse(s, loc)
	got, ok := fastWallClock(s, loc)
	if ok && (!wantOK || !got.Equal(want) || got.Location() != want.Location() || got.String() != want.String()) {
		t.Fatalf("fastWallClock(%q) = %v; the layouts give %v, %v", s, got, want, wantOK)
	}
	if wantOK && !mayBeWallClock(s) {
		t.Fatalf("mayBeWallClock(%q) = false, but a layout parses it: %v", s, want)
	}
}

func TestFastWallClockAgreesWithTheLayouts(t *testing.T) {
	loc := santiago(t)
	for _, s := range []string{
		"05-01-2026 08:41:07", "5-1-2026 8:41:07", "05-01-2026 8:41", "5/1/2026 8:41:07", "5/1/2026 8:41",
		"2026-01-05 08:41:07", "2026-1-5 8:41", "05-01-2026", "5/1/2026", "29-02-2024 00:00:00",
		"29-02-2026 00:00:00", "31-04-2026", "00-01-2026", "5-13-2026", "5-1-2026 24:00:00", "5-1-2026 23:60",
		"5-1-2026 23:59:60", "5-1-2026 8:41:07.5", "5-1-2026 8:41:07,25", "5-1-2026 8:4", "5-1-2026 8:41:7",
		"5-1-2026  8:41", "5-1/2026", "5/1-2026", "005-1-2026", "5-001-2026", "5-1-20261", "5-1-226",
		"2026-1-5", "2026/1/5 8:41", "2026-1-5 8:41:07 ", "5-1-2026 8:41:07Z", "04-04-2026 23:30:00",
		"06-09-2026 00:30:00", "01-01-0000 00:00:00", "31-12-9999 23:59:59", "13-05-0226", "1-1-1900",
		"2026-12-03T09:00:00Z", "46155.4818", "46155,5", "-", "/", "1-", "12-", "1-1-", "1-1-2026 ", "1-1-2026 1",
		"1-1-2026 1:", "1-1-2026 1:00:", "1-1-2026 123:00", "12026-1-1 1:00", "202-1-1 1:00",
	} {
		for _, l := range []*time.Location{loc, time.UTC} {
			checkWallClock(t, s, l)
		}
	}
	// The forms the backend and a sheet show, over many instants: the shortcut takes them all.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		at := time.Unix(r.Int64N(5e9)-1e9, 0).In(loc)
		for _, layout := range []string{"02-01-2006 15:04:05", "2-1-2006 15:04:05", "2/1/2006 15:04", "2006-01-02 15:04:05", "2006-1-2 15:04", "02-01-2006", "2/1/2006"} {
			s := at.Format(layout)
			checkWallClock(t, s, loc)
			if _, ok := fastWallClock(s, loc); !ok {
				t.Fatalf("fastWallClock(%q) declined a plain %q date", s, layout)
			}
		}
	}
	// Random text over the alphabet of the layouts.
	const alphabet = "0123456789012345678901234567890123456789-/: .,T"
	b := make([]byte, 0, 24)
	for range 300000 {
		b = b[:0]
		for n := 1 + r.IntN(22); n > 0; n-- {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
		checkWallClock(t, string(b), time.UTC)
	}
}

// FuzzFastWallClock: the shortcut never disagrees with the layouts.
func FuzzFastWallClock(f *testing.F) {
	for _, s := range []string{"05-01-2026 08:41:07", "5/1/2026 8:41", "2026-1-5 8:41:07", "29-02-2024", "5-1-2026 8:41:07.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkWallClock(t, s, time.UTC) })
}
