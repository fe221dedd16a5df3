package redislock

import (
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"reconciler/jobs"
)

const tag = "MK-1335-CW-25238-011"

// request is a restore that should succeed on an empty Redis when now is the current time
// (the script decides on Redis's TIME; the test's redis-server runs on this host's clock).
func request(now time.Time) jobs.RestoreRequest {
	return jobs.RestoreRequest{
		Tag:        tag,
		WorkerID:   93,
		OccupiedAt: now.Add(-2 * time.Hour),
		SnapshotAt: now.Add(-5 * time.Second),
		MaxAge:     24 * time.Hour,
		Staleness:  60 * time.Second,
		Settle:     60 * time.Second,
	}
}

func mustRestore(t *testing.T, e *env, req jobs.RestoreRequest) jobs.RestoreOutcome {
	t.Helper()
	out, err := e.store.Restore(ctxT(t), req)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return out
}

func expectOutcome(t *testing.T, got, want jobs.RestoreOutcome) {
	t.Helper()
	if got != want {
		t.Fatalf("outcome = %q, want %q", got, want)
	}
}

func (e *env) exists(t *testing.T, key string) bool {
	t.Helper()
	return e.srv.MustDo("EXISTS", key) == "1"
}

func TestRestoreAbsentWritesBackendValue(t *testing.T) {
	e := newEnv(t, Options{})
	loc := santiago(t)
	req := request(time.Now())
	req.OccupiedAt = time.Date(2026, 5, 13, 15, 33, 48, 0, time.UTC) // 11:33:48 in Santiago
	req.MaxAge = 100 * 365 * 24 * time.Hour                          // a fixed date, never too old
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)

	v := e.srv.MustDo("GET", "spool_lock:"+tag)
	re := regexp.MustCompile(`^93:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}:13-05-2026 11:33:48$`)
	if !re.MatchString(v) {
		t.Fatalf("lock value %q does not have the backend's format", v)
	}
	if l := ParseValue(v, loc); l.WorkerID != 93 || !l.At.Equal(req.OccupiedAt) {
		t.Fatalf("parsed %+v", l)
	}
	if ttl := e.pttl(t, "spool_lock:"+tag); ttl != -1 {
		t.Fatalf("PTTL = %d, want -1 (persistent)", ttl)
	}
	// A second restore sees its own lock, and a new uuid is generated per call (so a fresh
	// restore on another key has a different value).
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeAlreadyLocked)
	if again := e.srv.MustDo("GET", "spool_lock:"+tag); again != v {
		t.Fatalf("value changed from %q to %q", v, again)
	}
	other := req
	other.Tag = "OTHER"
	expectOutcome(t, mustRestore(t, e, other), jobs.OutcomeRestored)
	if v2 := e.srv.MustDo("GET", "spool_lock:OTHER"); v2[:40] == v[:40] {
		t.Fatalf("same uuid reused: %q and %q", v, v2)
	}
}

func TestRestoreCustomPrefixAndLocation(t *testing.T) {
	utc := time.UTC
	e := newEnv(t, Options{Prefix: "lk:", Location: utc})
	req := request(time.Now())
	req.OccupiedAt = time.Date(2026, 5, 13, 15, 33, 48, 0, time.UTC)
	req.MaxAge = 100 * 365 * 24 * time.Hour // a fixed date, never too old
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
	if v := e.srv.MustDo("GET", "lk:"+tag); !strings.HasSuffix(v, ":13-05-2026 15:33:48") {
		t.Fatalf("value %q not in the configured location", v)
	}
}

func TestRestoreSameWorkerAlreadyLocked(t *testing.T) {
	e := newEnv(t, Options{})
	key := "spool_lock:" + tag
	// The backend's value for the same worker, with another uuid and time, and a TTL.
	e.srv.MustDo("SET", key, "93:0b7f5c62-1111-4222-8333-444455556666:01-01-2026 08:00:00", "PX", "500000")
	expectOutcome(t, mustRestore(t, e, request(time.Now())), jobs.OutcomeAlreadyLocked)
	if v := e.srv.MustDo("GET", key); v != "93:0b7f5c62-1111-4222-8333-444455556666:01-01-2026 08:00:00" {
		t.Fatalf("value changed: %q", v)
	}
	if ttl := e.pttl(t, key); ttl <= 400000 {
		t.Fatalf("PTTL = %d, TTL was touched", ttl)
	}
}

func TestRestoreOtherValueHolderMismatchUntouched(t *testing.T) {
	cases := map[string]string{
		"other worker":       "7:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48",
		"worker id prefix":   "930:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48",
		"same id, no colon":  "93",
		"empty string":       "",
		"arbitrary text":     "locked by hand",
		"worker 9 not 93":    "9:x:y",
		"prefix inside text": "x93:abc",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Options{})
			key := "spool_lock:" + tag
			e.srv.MustDo("SET", key, value, "PX", "500000")
			expectOutcome(t, mustRestore(t, e, request(time.Now())), jobs.OutcomeHolderMismatch)
			if v := e.srv.MustDo("GET", key); v != value {
				t.Fatalf("value changed to %q", v)
			}
			if ttl := e.pttl(t, key); ttl <= 400000 || ttl > 500000 {
				t.Fatalf("PTTL = %d, TTL was touched", ttl)
			}
		})
	}
}

func TestRestoreOtherTypeUntouched(t *testing.T) {
	e := newEnv(t, Options{})
	key := "spool_lock:" + tag
	e.srv.MustDo("HSET", key, "holder", "93:abc")
	expectOutcome(t, mustRestore(t, e, request(time.Now())), jobs.OutcomeHolderMismatch)
	if typ := e.srv.MustDo("TYPE", key); typ != "hash" {
		t.Fatalf("TYPE = %q, want hash", typ)
	}
	if got := e.srv.MustDo("HGETALL", key); got != "holder\n93:abc" {
		t.Fatalf("HGETALL = %q", got)
	}
	if ttl := e.pttl(t, key); ttl != -1 {
		t.Fatalf("PTTL = %d, a TTL was added", ttl)
	}
}

// The script's now is Redis TIME, which a test cannot pin: the boundary is checked a second
// either side (the script runs well within that of time.Now on this host).
func TestRestoreTooOldBoundary(t *testing.T) {
	now := time.Now()
	e := newEnv(t, Options{})
	req := request(now)
	req.OccupiedAt = now.Add(-req.MaxAge - time.Second)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeTooOld)
	if e.exists(t, "spool_lock:"+tag) {
		t.Fatal("too_old wrote a lock")
	}
	req.OccupiedAt = now.Add(-req.MaxAge + time.Second)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
}

func TestRestoreStaleSnapshot(t *testing.T) {
	now := time.Now()
	e := newEnv(t, Options{})
	req := request(now)
	req.SnapshotAt = now.Add(-req.Staleness - time.Second)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeStaleSnapshot)
	if e.exists(t, "spool_lock:"+tag) {
		t.Fatal("stale_snapshot wrote a lock")
	}
	req.SnapshotAt = now.Add(-req.Staleness + time.Second)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
}

func TestRestoreDecisionOrder(t *testing.T) {
	now := time.Now()
	e := newEnv(t, Options{})
	// Too old and stale and tombstoned: too_old is checked first.
	req := request(now)
	req.OccupiedAt = now.Add(-48 * time.Hour)
	req.SnapshotAt = now.Add(-time.Hour)
	e.srv.MustDo("SET", TombstoneKey(tag), "garbage")
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeTooOld)
	// Stale and tombstoned: stale_snapshot.
	req.OccupiedAt = now.Add(-time.Hour)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeStaleSnapshot)
	// An existing key wins over everything.
	e.srv.MustDo("SET", "spool_lock:"+tag, "93:x:y")
	req.OccupiedAt = now.Add(-48 * time.Hour)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeAlreadyLocked)
}

func TestRestoreTombstoneWindow(t *testing.T) {
	now := time.Now()
	released := now.Add(-90 * time.Second)
	relMs := released.UnixMilli()
	for _, c := range []struct {
		name     string
		snapshot time.Time
		want     jobs.RestoreOutcome
	}{
		{"snapshot before release", released.Add(-time.Second), jobs.OutcomeRecentlyReleased},
		{"snapshot inside settle window", released.Add(30 * time.Second), jobs.OutcomeRecentlyReleased},
		{"snapshot 1ms before window ends", time.UnixMilli(relMs + 60_000 - 1), jobs.OutcomeRecentlyReleased},
		{"snapshot exactly release+settle", time.UnixMilli(relMs + 60_000), jobs.OutcomeRestored},
		{"snapshot after window", released.Add(80 * time.Second), jobs.OutcomeRestored},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			// A release at a chosen time (WriteTombstone stamps Redis's now).
			e.srv.MustDo("SET", TombstoneKey(tag), formatMs(released), "PX", "600000")
			req := request(now)
			req.SnapshotAt = c.snapshot
			req.Staleness = 10 * time.Minute
			expectOutcome(t, mustRestore(t, e, req), c.want)
			if got := e.exists(t, "spool_lock:"+tag); got != (c.want == jobs.OutcomeRestored) {
				t.Fatalf("lock exists = %v after %q", got, c.want)
			}
		})
	}
}

func TestRestoreGarbageTombstoneRefuses(t *testing.T) {
	for name, setup := range map[string][]string{
		"text":  {"SET", TombstoneKey(tag), "not-a-number"},
		"empty": {"SET", TombstoneKey(tag), ""},
		"hash":  {"HSET", TombstoneKey(tag), "a", "1"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.srv.MustDo(setup...)
			now := time.Now()
			req := request(now)
			// Even a snapshot far after any plausible release is refused.
			req.SnapshotAt = now
			req.Settle = 0
			before := e.redisNow(t)
			expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRecentlyReleased)
			after := e.redisNow(t)
			if e.exists(t, "spool_lock:"+tag) {
				t.Fatal("lock written despite an unreadable tombstone")
			}
			// The tombstone now records "released now" by Redis's clock, with the tombstone TTL.
			stamped := e.tombstoneTime(t, tag)
			if stamped.Before(before) || stamped.After(after) {
				t.Fatalf("tombstone = %v, want Redis's now, within [%v, %v]", stamped, before, after)
			}
			if ttl := e.pttl(t, TombstoneKey(tag)); ttl <= 590_000 || ttl > 600_000 {
				t.Fatalf("tombstone PTTL = %d", ttl)
			}
			// A snapshot at or after that release + settle is trusted again.
			later := request(now)
			later.SnapshotAt = stamped.Add(time.Second)
			later.Settle = time.Second
			expectOutcome(t, mustRestore(t, e, later), jobs.OutcomeRestored)
		})
	}
}

func TestRestoreConcurrentExactlyOne(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	const n = 100
	var wg sync.WaitGroup
	outcomes := make([]jobs.RestoreOutcome, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			outcomes[i], errs[i] = e.store.Restore(ctxT(t), request(now))
		})
	}
	close(start)
	wg.Wait()
	count := map[jobs.RestoreOutcome]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("restore %d: %v", i, errs[i])
		}
		count[outcomes[i]]++
	}
	if count[jobs.OutcomeRestored] != 1 || count[jobs.OutcomeAlreadyLocked] != n-1 {
		t.Fatalf("outcomes = %v, want 1 restored and %d already_locked", count, n-1)
	}
	if keys := e.srv.MustDo("KEYS", "spool_lock:*"); keys != "spool_lock:"+tag {
		t.Fatalf("keys = %q", keys)
	}
}

func TestRestoreAfterScriptFlush(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	req := request(now)
	req.Tag = "A"
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
	e.srv.MustDo("SCRIPT", "FLUSH")
	req.Tag = "B"
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored) // EVALSHA → NOSCRIPT → EVAL
}

func TestRestoreErrorsNameTheTag(t *testing.T) {
	e := newEnv(t, Options{})
	bad := request(time.Now())
	bad.WorkerID = 0
	if _, err := e.store.Restore(ctxT(t), bad); err == nil || !strings.Contains(err.Error(), tag) {
		t.Fatalf("invalid request: err = %v", err)
	}
	_, err := e.downStore(t).Restore(ctxT(t), request(time.Now()))
	if err == nil || !strings.Contains(err.Error(), tag) {
		t.Fatalf("Redis down: err = %v, want an error naming %q", err, tag)
	}
}

func formatMs(t time.Time) string {
	return strconvI64(t.UnixMilli())
}

func TestRestoreCountsOutcomeInRunTally(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	req := request(now)
	req.RunID = "run-7"
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeAlreadyLocked)
	other := req
	other.Tag, other.WorkerID = "TAKEN", 5
	e.srv.MustDo("SET", "spool_lock:TAKEN", "6:someone-else")
	expectOutcome(t, mustRestore(t, e, other), jobs.OutcomeHolderMismatch)
	old := req
	old.Tag, old.OccupiedAt = "OLD", now.Add(-25*time.Hour)
	expectOutcome(t, mustRestore(t, e, old), jobs.OutcomeTooOld)

	got, err := e.store.Tally(ctxT(t), "run-7")
	want := map[string]int64{"restored": 1, "already_locked": 1, "holder_mismatch": 1, "too_old": 1}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Tally = %v, %v; want %v", got, err, want)
	}
	if ttl := e.pttl(t, TallyKey("run-7")); ttl <= 86_000_000 || ttl > 86_400_000 {
		t.Fatalf("tally PTTL = %d, want about 24h", ttl)
	}

	// Without a run id nothing is counted anywhere.
	plain := request(now)
	plain.Tag = "PLAIN"
	expectOutcome(t, mustRestore(t, e, plain), jobs.OutcomeRestored)
	if keys := e.srv.MustDo("KEYS", TallyPrefix+"*"); keys != TallyKey("run-7") {
		t.Fatalf("tally keys = %q, want only %q", keys, TallyKey("run-7"))
	}
}

func TestRestoreBrokenTallyStillRestores(t *testing.T) {
	e := newEnv(t, Options{})
	for name, setup := range map[string][]string{
		"tally is a string":         {"SET", TallyKey("broken"), "x"},
		"tally field not a number":  {"HSET", TallyKey("broken"), "restored", "many"},
		"tally is a list of things": {"RPUSH", TallyKey("broken"), "a", "b"},
	} {
		t.Run(name, func(t *testing.T) {
			e.srv.MustDo("DEL", TallyKey("broken"), "spool_lock:"+tag)
			e.srv.MustDo(setup...)
			req := request(time.Now())
			req.RunID = "broken"
			expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
			if !e.exists(t, "spool_lock:"+tag) {
				t.Fatal("lock not written")
			}
		})
	}
}
