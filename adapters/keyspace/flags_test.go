package keyspace

import (
	"slices"
	"testing"
	"time"
)

func TestMissingAndUnionFlags(t *testing.T) {
	cases := []struct{ flags, missing, union string }{
		{"", "Kgxe$", "Kgxe$"},
		{"KA", "", "KA"},
		{"AKE", "", "AKE"},
		{"El", "Kgxe$", "ElKgxe$"},
		{"Kg", "xe$", "Kgxe$"},
		{"Ex", "Kge$", "ExKge$"},
		{"K$gxe", "", "K$gxe"},
		{"Km", "gxe$", "Kmgxe$"}, // m (key miss) is not part of A and is kept
	}
	for _, c := range cases {
		if got := missingFlags(c.flags); got != c.missing {
			t.Errorf("missingFlags(%q) = %q, want %q", c.flags, got, c.missing)
		}
		if got := unionFlags(c.flags); got != c.union {
			t.Errorf("unionFlags(%q) = %q, want %q", c.flags, got, c.union)
		}
	}
	if hasFlag("A", 'K') || hasFlag("A", 'm') || hasFlag("A", 'n') || !hasFlag("A", 'd') {
		t.Error("A must cover g$lshzxetd and nothing else")
	}
}

func TestMissingKinds(t *testing.T) {
	if got := missingKinds("K"); !slices.Equal(got, Kinds) {
		t.Errorf("without K every kind is missing, got %v", got)
	}
	if got := missingKinds("x$"); !slices.Equal(got, []Kind{KindExpired, KindSet}) {
		t.Errorf("missingKinds(x$) = %v", got)
	}
	if missingKinds("") != nil {
		t.Error("nothing missing: want nil")
	}
}

func TestParseEvent(t *testing.T) {
	at := time.Now()
	cases := []struct {
		channel, payload string
		ok               bool
		want             Event
	}{
		{"__keyspace@0__:spool_lock:MK-1", "set", true, Event{KindSet, "MK-1", "spool_lock:MK-1", at}},
		{"__keyspace@0__:spool_lock:A:B:C", "del", true, Event{KindDel, "A:B:C", "spool_lock:A:B:C", at}},
		{"__keyspace@0__:spool_lock:x", "expired", true, Event{KindExpired, "x", "spool_lock:x", at}},
		{"__keyspace@0__:spool_lock:x", "evicted", true, Event{KindEvicted, "x", "spool_lock:x", at}},
		{"__keyspace@0__:spool_lock:x", "expire", false, Event{}},
		{"__keyspace@0__:spool_lock:x", "rename_from", false, Event{}},
		{"__keyspace@0__:spool_lock:", "del", false, Event{}},
		{"__keyspace@0__:other:x", "del", false, Event{}},
		{"__keyspace@1__:spool_lock:x", "del", false, Event{}},
		{"__keyevent@0__:del", "spool_lock:x", false, Event{}},
	}
	for _, c := range cases {
		got, ok := parseEvent(0, "spool_lock:", c.channel, c.payload, at)
		if ok != c.ok || got != c.want {
			t.Errorf("parseEvent(%q, %q) = %+v, %v; want %+v, %v", c.channel, c.payload, got, ok, c.want, c.ok)
		}
	}
}

func TestSubscribePatternEscapesGlob(t *testing.T) {
	if got := subscribePattern(3, `lo*ck?[x]\:`); got != `__keyspace@3__:lo\*ck\?\[x\]\\:*` {
		t.Errorf("pattern = %q", got)
	}
	if got := subscribePattern(0, "spool_lock:"); got != "__keyspace@0__:spool_lock:*" {
		t.Errorf("pattern = %q", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "AUTO": ModeAuto, " configure ": ModeConfigure, "Off": ModeOff} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("on"); err == nil {
		t.Error("ParseMode(on): no error")
	}
}
