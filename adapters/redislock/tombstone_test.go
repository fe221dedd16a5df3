package redislock

import (
	"strings"
	"testing"
	"time"
)

func TestTombstones(t *testing.T) {
	e := newEnv(t, Options{})
	key := TombstoneKey(tag)

	// A release is stamped with Redis's clock, whatever the caller's says.
	before := e.redisNow(t)
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	after := e.redisNow(t)
	if got := e.tombstoneTime(t, tag); got.Before(before) || got.After(after) {
		t.Fatalf("tombstone = %v, want Redis's TIME within [%v, %v]", got, before, after)
	}
	if ttl := e.pttl(t, key); ttl <= 595_000 || ttl > 600_000 {
		t.Fatalf("PTTL = %d, want about 10 minutes", ttl)
	}

	// A later stored release (another replica stamped it) is not replaced.
	later := e.redisNow(t).Add(time.Minute)
	e.srv.MustDo("SET", key, formatMs(later), "PX", "600000")
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.MustDo("GET", key); got != formatMs(later) {
		t.Fatalf("a later release was replaced: %q, want %q", got, formatMs(later))
	}
	// An earlier one is.
	earlier := e.redisNow(t).Add(-time.Minute)
	e.srv.MustDo("SET", key, formatMs(earlier), "PX", "600000")
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	if got := e.tombstoneTime(t, tag); !got.After(earlier) {
		t.Fatalf("tombstone = %v, want Redis's now, not the earlier %v", got, earlier)
	}

	// Garbage is replaced.
	e.srv.MustDo("SET", key, "garbage")
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	e.tombstoneTime(t, tag) // a number again
}

// TestTombstoneTTLFollowsSettle: a RELEASE_SETTLE longer than the default TTL gets tombstones
// that outlive it, so the window is not silently cut short.
func TestTombstoneTTLFollowsSettle(t *testing.T) {
	if got := TombstoneTTLFor(60*time.Second, 60*time.Second); got != TombstoneTTL {
		t.Fatalf("default settings: TTL %v, want %v", got, TombstoneTTL)
	}
	settle, staleness := 20*time.Minute, 2*time.Minute
	ttl := TombstoneTTLFor(settle, staleness)
	if ttl < settle+staleness {
		t.Fatalf("TTL %v is shorter than settle + staleness %v", ttl, settle+staleness)
	}

	e := newEnv(t, Options{TombstoneTTL: ttl})
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	if got := e.pttl(t, TombstoneKey(tag)); got <= (ttl-5*time.Second).Milliseconds() || got > ttl.Milliseconds() {
		t.Fatalf("PTTL = %d ms, want about %v", got, ttl)
	}
	// The restore script normalizes an unreadable tombstone with the same TTL.
	e.srv.MustDo("SET", TombstoneKey("B"), "garbage")
	req := request(time.Now())
	req.Tag = "B"
	expectOutcome(t, mustRestore(t, e, req), "recently_released")
	if got := e.pttl(t, TombstoneKey("B")); got <= (ttl-5*time.Second).Milliseconds() || got > ttl.Milliseconds() {
		t.Fatalf("normalized tombstone PTTL = %d ms, want about %v", got, ttl)
	}
}

// TestClearTombstoneOnlyWhenOlderThanSet: a `set` clears the tombstone of a release before it,
// never that of a DEL after it: a replica handling the set late finds the lock key gone.
func TestClearTombstoneOnlyWhenOlderThanSet(t *testing.T) {
	e := newEnv(t, Options{})
	key, lock := TombstoneKey(tag), "spool_lock:"+tag
	clear := func() bool {
		t.Helper()
		existed := e.exists(t, key)
		cleared, err := e.store.ClearTombstone(ctxT(t), tag)
		if err != nil {
			t.Fatal(err)
		}
		if exists := e.exists(t, key); exists != (existed && !cleared) {
			t.Fatalf("ClearTombstone said %v; the tombstone existed %v and exists %v", cleared, existed, exists)
		}
		return cleared
	}
	release := func() {
		t.Helper()
		e.srv.MustDo("DEL", lock)
		if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
			t.Fatal(err)
		}
	}

	e.srv.MustDo("SET", lock, "93:a:01-01-2026 00:00:00")
	if clear() {
		t.Fatal("cleared an absent tombstone")
	}
	// DEL, then SET (re-taken at once, the same millisecond if need be): the set clears.
	release()
	e.srv.MustDo("SET", lock, "93:b:01-01-2026 00:00:00")
	if !clear() {
		t.Fatal("re-taking the spool kept the tombstone of the release before it")
	}
	// SET, then DEL; the set is handled only after the DEL (a lagging replica): kept.
	e.srv.MustDo("SET", lock, "93:c:01-01-2026 00:00:00")
	release()
	if clear() {
		t.Fatal("a set handled late erased the tombstone of the DEL after it")
	}
	// ...and another SET after that DEL: the spool is taken again, so that set (and the
	// late-handled one with it) clears.
	e.srv.MustDo("SET", lock, "93:d:01-01-2026 00:00:00")
	if !clear() {
		t.Fatal("a tombstone outlived a re-take")
	}
	// Unreadable tombstones go the same way: the spool is taken.
	for _, setup := range [][]string{{"SET", key, "garbage"}, {"HSET", key, "a", "1"}} {
		e.srv.MustDo(setup...)
		if !clear() {
			t.Fatalf("tombstone %v kept while the spool is taken", setup)
		}
	}

	if _, err := e.downStore(t).ClearTombstone(ctxT(t), tag); err == nil || !strings.Contains(err.Error(), tag) {
		t.Fatalf("Redis down: err = %v, want an error naming %q", err, tag)
	}
}

func TestNowIsRedisTime(t *testing.T) {
	e := newEnv(t, Options{})
	before := time.Now().Add(-time.Second)
	got, err := e.store.Now(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before) || got.After(time.Now().Add(time.Second)) {
		t.Fatalf("Now = %v, want the server's TIME (this host's clock, %v)", got, before)
	}
	if _, err := e.downStore(t).Now(ctxT(t)); err == nil || !strings.Contains(err.Error(), "TIME") {
		t.Fatalf("Redis down: err = %v, want an error naming TIME", err)
	}
}
