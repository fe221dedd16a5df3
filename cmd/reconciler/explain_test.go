package main

import (
	"bytes"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestHistoryMaxSetting(t *testing.T) {
	for v, want := range map[string]int{"": 100000, "500": 500, "off": -1, "OFF": -1, "0": -1} {
		s, err := loadSettings(envOf(map[string]string{"HISTORY_MAX": v}), true)
		if err != nil || s.HistoryMax != want {
			t.Errorf("HISTORY_MAX=%q: %d (%v), want %d", v, s.HistoryMax, err, want)
		}
	}
	if _, err := loadSettings(envOf(map[string]string{"HISTORY_MAX": "-3"}), true); err == nil || !strings.Contains(err.Error(), "HISTORY_MAX") {
		t.Errorf("HISTORY_MAX=-3: %v, want an error naming it", err)
	}
}

func TestTakeTag(t *testing.T) {
	cases := []struct {
		args []string
		tag  string
		rest []string
		ok   bool
	}{
		{[]string{"MK-1"}, "MK-1", []string{}, true},
		{[]string{"--json", "MK 2/x"}, "MK 2/x", []string{"--json"}, true},
		{[]string{"--redis-url", "redis://h:1/0", "MK-1", "--json"}, "MK-1", []string{"--redis-url", "redis://h:1/0", "--json"}, true},
		{[]string{"--", "-ODD"}, "-ODD", []string{}, true},
		{[]string{"--json"}, "", []string{"--json"}, false},
	}
	for _, c := range cases {
		tag, rest, ok := takeTag(c.args)
		if tag != c.tag || ok != c.ok || !reflect.DeepEqual(append([]string{}, rest...), c.rest) {
			t.Errorf("takeTag(%q) = %q %q %v, want %q %q %v", c.args, tag, rest, ok, c.tag, c.rest, c.ok)
		}
	}
}

func TestExplainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"explain"}, envOf(nil), &out, &errb); code != exitUsage {
		t.Errorf("explain without a tag: exit %d, want 2", code)
	}
	if code := run([]string{"history", "extra"}, envOf(nil), &out, &errb); code != exitUsage {
		t.Errorf("history with an argument: exit %d, want 2", code)
	}
}

// TestExplainRedisDown: an unreachable Redis is one clear line and exit 1, for explain and
// history alike.
func TestExplainRedisDown(t *testing.T) {
	csv := t.TempDir() + "/s.csv"
	if err := os.WriteFile(csv, []byte("TAG_SPOOL,Ocupado_Por,Fecha_Ocupacion\nMK-1,MR(93),\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := envOf(map[string]string{"REDIS_URL": "redis://:s3cret@" + addr + "/0", "SHEET_CSV": csv})
	for _, args := range [][]string{{"explain", "MK-1"}, {"history"}} {
		var out, errb bytes.Buffer
		code := run(args, env, &out, &errb)
		if code != exitError || !strings.Contains(errb.String(), "does not answer") || strings.Contains(errb.String(), "s3cret") {
			t.Errorf("%v with Redis down: exit %d, stderr %q; want 1, one line, no password", args, code, errb.String())
		}
	}
}
