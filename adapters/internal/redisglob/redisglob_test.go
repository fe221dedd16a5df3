package redisglob

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		`a*b?c[d]e\f`:  `a\*b\?c\[d\]e\\f`,
		"spool_lock:":  "spool_lock:",
		"ñandú:{tag}":  "ñandú:{tag}",
		"":             "",
		`lo*ck?[x]\:`:  `lo\*ck\?\[x\]\\:`,
		"__keyspace@0": "__keyspace@0",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Prefix("p[1]:"); got != `p\[1\]:*` {
		t.Errorf("Prefix = %q", got)
	}
}
