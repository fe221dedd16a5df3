package redislock

import (
	"testing"
	"time"
)

func TestTombstones(t *testing.T) {
	e := newEnv(t, Options{})
	key := TombstoneKey(tag)
	t0 := time.Now()

	if err := e.store.WriteTombstone(ctxT(t), tag, t0); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.MustDo("GET", key); got != formatMs(t0) {
		t.Fatalf("tombstone = %q, want %q", got, formatMs(t0))
	}
	if ttl := e.pttl(t, key); ttl <= 595_000 || ttl > 600_000 {
		t.Fatalf("PTTL = %d, want about 10 minutes", ttl)
	}

	// An earlier release does not replace a later one.
	if err := e.store.WriteTombstone(ctxT(t), tag, t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.MustDo("GET", key); got != formatMs(t0) {
		t.Fatalf("earlier release replaced the tombstone: %q", got)
	}
	// A later one does.
	t1 := t0.Add(1500 * time.Millisecond)
	if err := e.store.WriteTombstone(ctxT(t), tag, t1); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.MustDo("GET", key); got != formatMs(t1) {
		t.Fatalf("tombstone = %q, want the later %q", got, formatMs(t1))
	}

	// Garbage is replaced.
	e.srv.MustDo("SET", key, "garbage")
	if err := e.store.WriteTombstone(ctxT(t), tag, t0); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.MustDo("GET", key); got != formatMs(t0) {
		t.Fatalf("garbage tombstone kept: %q", got)
	}

	if err := e.store.ClearTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	if e.exists(t, key) {
		t.Fatal("tombstone still there after ClearTombstone")
	}
	if err := e.store.ClearTombstone(ctxT(t), tag); err != nil {
		t.Fatalf("clearing an absent tombstone: %v", err)
	}
}
