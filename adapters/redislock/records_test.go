package redislock

import (
	"testing"
	"time"
)

func TestPendingMark(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	if ok, err := e.store.MarkPending(ctx, "redis-back", time.Minute); err != nil || !ok {
		t.Fatalf("first mark: %v, %v; want set", ok, err)
	}
	if ok, err := e.store.MarkPending(ctx, "redis-restart", time.Minute); err != nil || ok {
		t.Fatalf("second mark: %v, %v; want covered by the first", ok, err)
	}
	if v := e.srv.MustDo("GET", PendingKey); v != "redis-back" {
		t.Fatalf("%s = %q, want the first trigger", PendingKey, v)
	}
	if ttl := e.pttl(t, PendingKey); ttl <= 0 || ttl > 60_000 {
		t.Fatalf("pending mark PTTL %d, want within the minute asked", ttl)
	}
	if err := e.store.ClearPending(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.store.MarkPending(ctx, "schedule", time.Minute); err != nil || !ok {
		t.Fatalf("mark after clear: %v, %v; want set", ok, err)
	}
}

func TestSentinelAndQueues(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	if v, err := e.store.Sentinel(ctx); err != nil || v != "" {
		t.Fatalf("sentinel of an empty Redis: %q, %v; want none", v, err)
	}
	if err := e.store.SetSentinel(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if v, err := e.store.Sentinel(ctx); err != nil || v != "abc" {
		t.Fatalf("sentinel %q, %v; want abc", v, err)
	}
	if ttl := e.pttl(t, SentinelKey); ttl != -1 {
		t.Fatalf("sentinel PTTL %d, want persistent", ttl)
	}
	if err := e.store.RegisterQueues(ctx, "reconcile", "restore"); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.MustDo("SCARD", AsynqQueuesKey); n != "2" {
		t.Fatalf("%s has %s members, want 2", AsynqQueuesKey, n)
	}
	down := e.downStore(t)
	if _, err := down.Sentinel(ctx); err == nil {
		t.Fatal("sentinel read with Redis down: no error")
	}
}

func TestTakeSheetsRead(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	minute := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	for i := range 3 {
		ok, next, err := e.store.TakeSheetsRead(ctx, 3, minute.Add(time.Duration(i)*time.Second))
		if err != nil || !ok || !next.IsZero() {
			t.Fatalf("read %d of 3: %v, %v, %v", i+1, ok, next, err)
		}
	}
	ok, next, err := e.store.TakeSheetsRead(ctx, 3, minute.Add(59*time.Second))
	if err != nil || ok || !next.Equal(minute.Add(time.Minute)) {
		t.Fatalf("fourth read: %v, next %v, %v; want refused until %v", ok, next, err, minute.Add(time.Minute))
	}
	if ok, _, err := e.store.TakeSheetsRead(ctx, 3, minute.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("first read of the next minute: %v, %v", ok, err)
	}
	if ttl := e.pttl(t, SheetsReadsKey(minute)); ttl <= 0 || ttl > 120_000 {
		t.Fatalf("budget counter PTTL %d, want at most 2 minutes", ttl)
	}
}
