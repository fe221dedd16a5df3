package redislock

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestFormatValueBackendFormat(t *testing.T) {
	loc := santiago(t)
	id := uuid.MustParse("3f0c2b8e-8a4d-4c1e-9d3b-2a7f5e6c1d90")
	// 15:33:48 UTC is 11:33:48 in Santiago in May (UTC-4).
	at := time.Date(2026, 5, 13, 15, 33, 48, 999_000_000, time.UTC)
	got := FormatValue(93, id, at, loc)
	want := "93:3f0c2b8e-8a4d-4c1e-9d3b-2a7f5e6c1d90:13-05-2026 11:33:48"
	if got != want {
		t.Fatalf("FormatValue = %q, want %q", got, want)
	}
	// nil location means America/Santiago too.
	if got := FormatValue(93, id, at, nil); got != want {
		t.Fatalf("FormatValue(nil loc) = %q, want %q", got, want)
	}
	// Summer time (UTC-3) in January.
	jan := time.Date(2026, 1, 10, 12, 0, 5, 0, time.UTC)
	if got, want := FormatValue(7, id, jan, loc), "7:"+id.String()+":10-01-2026 09:00:05"; got != want {
		t.Fatalf("FormatValue(January) = %q, want %q", got, want)
	}
}

func TestParseValueRoundTrip(t *testing.T) {
	loc := santiago(t)
	id := uuid.New()
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, loc)
	v := FormatValue(93, id, at, loc)
	l := ParseValue(v, loc)
	if l.Value != v || l.WorkerID != 93 || !l.At.Equal(at) {
		t.Fatalf("ParseValue(%q) = %+v, want worker 93 at %v", v, l, at)
	}
	if l.At.Location().String() != "America/Santiago" {
		t.Fatalf("At location = %v", l.At.Location())
	}
	// Sub-second precision is dropped by the format.
	l = ParseValue(FormatValue(12, id, at.Add(700*time.Millisecond), loc), loc)
	if !l.At.Equal(at) {
		t.Fatalf("At = %v, want %v", l.At, at)
	}
}

func TestParseValueGarbage(t *testing.T) {
	loc := santiago(t)
	good := time.Date(2026, 5, 13, 11, 33, 48, 0, loc)
	cases := []struct {
		v      string
		worker int
		at     time.Time
	}{
		{"", 0, time.Time{}},
		{"garbage", 0, time.Time{}},
		{"93", 0, time.Time{}},
		{"93:", 93, time.Time{}},
		{"93:uuid", 93, time.Time{}},
		{"93:13-05-2026 11:33:48", 93, time.Time{}}, // no uuid: the date is split at its colons
		{"x:uuid:13-05-2026 11:33:48", 0, good},
		{"-5:uuid:13-05-2026 11:33:48", 0, good},
		{"+5:uuid:13-05-2026 11:33:48", 0, good},
		{"0:uuid:13-05-2026 11:33:48", 0, good},
		{" 9:uuid:13-05-2026 11:33:48", 0, good},
		{"99999999999999999999999:uuid:13-05-2026 11:33:48", 0, good},
		{"93:uuid:2026-05-13 11:33:48", 93, time.Time{}},
		{"93:uuid:13-05-2026 11:33", 93, time.Time{}},
		{"93:uuid:32-05-2026 11:33:48", 93, time.Time{}},
		{"93:uuid:13-05-2026 11:33:48 ", 93, time.Time{}},
	}
	for _, c := range cases {
		l := ParseValue(c.v, loc)
		if l.Value != c.v || l.WorkerID != c.worker || !l.At.Equal(c.at) {
			t.Errorf("ParseValue(%q) = {%d %v}, want {%d %v}", c.v, l.WorkerID, l.At, c.worker, c.at)
		}
	}
}

func TestKeys(t *testing.T) {
	s := New(nil, Options{})
	if got := s.Key("MK-1"); got != "spool_lock:MK-1" {
		t.Fatalf("Key = %q", got)
	}
	if got := TombstoneKey("MK-1"); got != "reconciler:released:MK-1" {
		t.Fatalf("TombstoneKey = %q", got)
	}
	for key, want := range map[string]string{"spool_lock:MK-1": "MK-1", "spool_lock:a:b": "a:b"} {
		if tag, ok := s.TagOf(key); !ok || tag != want {
			t.Errorf("TagOf(%q) = %q, %v; want %q", key, tag, ok, want)
		}
	}
	for _, key := range []string{"spool_lock:", "other:MK-1", "spool_lockMK-1", ""} {
		if tag, ok := s.TagOf(key); ok {
			t.Errorf("TagOf(%q) = %q, true; want false", key, tag)
		}
	}
	c := New(nil, Options{Prefix: "p:"})
	if c.Key("X") != "p:X" || c.Prefix() != "p:" {
		t.Fatalf("custom prefix not used: %q", c.Key("X"))
	}
	if got := New(nil, Options{Prefix: "l*[1]:"}).keysPattern(); got != `l\*\[1\]:*` {
		t.Fatalf("keysPattern = %q, want the prefix escaped", got)
	}
	if s.Location().String() != "America/Santiago" {
		t.Fatalf("default location = %v", s.Location())
	}
}
