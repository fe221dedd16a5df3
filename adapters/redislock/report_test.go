package redislock

import (
	"reflect"
	"testing"
)

func TestLastReportRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	got, err := e.store.LastReport(ctxT(t))
	if err != nil || got != nil {
		t.Fatalf("LastReport before any save = %q, %v; want nil, nil", got, err)
	}
	for _, report := range []string{`{"trigger":"boot","rows":3}`, `{"trigger":"schedule","rows":4}`} {
		if err := e.store.SaveReport(ctxT(t), []byte(report)); err != nil {
			t.Fatal(err)
		}
		got, err = e.store.LastReport(ctxT(t))
		if err != nil || string(got) != report {
			t.Fatalf("LastReport = %q, %v; want %q", got, err, report)
		}
	}
	if ttl := e.pttl(t, ReportKey); ttl != -1 {
		t.Fatalf("report PTTL = %d, want -1", ttl)
	}
	if e.srv.MustDo("GET", "reconciler:last_report") != `{"trigger":"schedule","rows":4}` {
		t.Fatal("report not at reconciler:last_report")
	}
}

func TestTally(t *testing.T) {
	e := newEnv(t, Options{})
	got, err := e.store.Tally(ctxT(t), "run-1")
	if err != nil || len(got) != 0 {
		t.Fatalf("Tally of an unknown run = %v, %v", got, err)
	}
	for _, add := range []struct {
		field string
		n     int64
	}{{"restored", 1}, {"restored", 1}, {"already_locked", 3}, {"restored", 2}, {"too_old", 0}} {
		if err := e.store.AddTally(ctxT(t), "run-1", add.field, add.n); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.AddTally(ctxT(t), "run-2", "restored", 9); err != nil {
		t.Fatal(err)
	}
	got, err = e.store.Tally(ctxT(t), "run-1")
	want := map[string]int64{"restored": 4, "already_locked": 3, "too_old": 0}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Tally = %v, %v; want %v", got, err, want)
	}
	ttl := e.pttl(t, "reconciler:run:run-1")
	if ttl <= 86_000_000 || ttl > 86_400_000 {
		t.Fatalf("tally PTTL = %d, want about 24h", ttl)
	}
	if err := e.store.AddTally(ctxT(t), "", "restored", 1); err == nil {
		t.Fatal("empty run id accepted")
	}
	e.srv.MustDo("HSET", "reconciler:run:bad", "restored", "x")
	if _, err := e.store.Tally(ctxT(t), "bad"); err == nil {
		t.Fatal("non-numeric tally field accepted")
	}
}
