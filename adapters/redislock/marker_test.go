package redislock

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// setMarker writes tag's marker into the hash key (RestoredKey or RestoredPreviousKey) as a
// restore would, giving a new hash the TTL a restore gives it.
func (e *env) setMarker(t *testing.T, key, tag string, at time.Time, value string) {
	t.Helper()
	e.srv.MustDo("HSET", key, tag, encodeStamped(at, value))
	if e.pttl(t, key) == -1 {
		e.srv.MustDo("PEXPIRE", key, strconv.FormatInt(2*DefaultMarkerTTL.Milliseconds(), 10))
	}
}

// markerPlaces is in how many places tag has a marker: either generation of the hash, and the
// key of earlier versions.
func (e *env) markerPlaces(t *testing.T, tag string) int {
	t.Helper()
	n := 0
	for _, c := range [][]string{{"HEXISTS", RestoredKey, tag}, {"HEXISTS", RestoredPreviousKey, tag}, {"EXISTS", LegacyRestoredKey(tag)}} {
		if out, err := e.srv.Do(c...); err == nil && out == "1" { // an error: another type, no marker
			n++
		}
	}
	return n
}

func TestRestoreWritesMarkerOnlyWhenRestored(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now().Truncate(time.Millisecond)
	req := request(now)
	req.Settle = 7 * time.Second
	before, err := e.store.Now(ctxT(t)) // the script stamps the marker with Redis TIME
	if err != nil {
		t.Fatal(err)
	}
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
	after, err := e.store.Now(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	v := e.srv.MustDo("GET", "spool_lock:"+tag)
	raw := e.srv.MustDo("HGET", "reconciler:restored", tag)
	ms, value, ok := strings.Cut(raw, "|")
	at, perr := strconv.ParseInt(ms, 10, 64)
	if !ok || perr != nil || value != v || at < before.UnixMilli() || at > after.UnixMilli() {
		t.Fatalf("marker = %q, want the restore's Redis time (%d..%d) and the value %q", raw, before.UnixMilli(), after.UnixMilli(), v)
	}
	now = time.UnixMilli(at)
	// The hash is born with two marker TTLs (markers.lua); nothing goes to the previous one.
	ttl := e.pttl(t, RestoredKey)
	want := 2 * (7*time.Second + RestoredMarkerMargin).Milliseconds()
	if ttl <= want-5000 || ttl > want {
		t.Fatalf("marker hash PTTL = %d, want about %d (twice RELEASE_SETTLE + margin)", ttl, want)
	}
	if e.exists(t, RestoredPreviousKey) || e.exists(t, LegacyRestoredKey(tag)) {
		t.Fatal("a restore wrote a marker elsewhere than the current hash")
	}
	got, err := e.store.Markers(ctxT(t), []string{tag, "NONE"})
	if err != nil || len(got) != 1 || got[tag].Value != v || !got[tag].At.Equal(now) {
		t.Fatalf("Markers = %+v, %v", got, err)
	}

	// Every other outcome leaves the marker alone and writes none.
	e.srv.MustDo("HDEL", RestoredKey, tag)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeAlreadyLocked)
	other := req
	other.WorkerID = 7
	expectOutcome(t, mustRestore(t, e, other), jobs.OutcomeHolderMismatch)
	e.srv.MustDo("DEL", "spool_lock:"+tag)
	old := req
	old.OccupiedAt = now.Add(-25 * time.Hour)
	expectOutcome(t, mustRestore(t, e, old), jobs.OutcomeTooOld)
	stale := req
	stale.SnapshotAt = now.Add(-2 * time.Minute)
	expectOutcome(t, mustRestore(t, e, stale), jobs.OutcomeStaleSnapshot)
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRecentlyReleased)
	if n := e.markerPlaces(t, tag); n != 0 {
		t.Fatal("a restore that did not write a lock wrote a marker")
	}
}

// TestRestoreMarksInTheSameStep: readers that look at locks and markers together (one MULTI)
// while batches restore them, and a backend that takes some of the same spools first, never see
// a restored lock without its marker, nor a marker of a value the key does not hold.
func TestRestoreMarksInTheSameStep(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	const batches, size = 30, 200
	tags := make([][]string, batches)
	for b := range tags {
		for i := range size {
			tags[b] = append(tags[b], fmt.Sprintf("SAME-%02d-%03d", b, i))
		}
	}
	ctx := ctxT(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var looks, seen atomic.Int64
	var firstErr atomic.Value
	fail := func(format string, args ...any) { firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...)) }
	for r := range 2 { // readers
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				batch := tags[(i+r)%batches]
				keys := make([]string, len(batch))
				for j, tg := range batch {
					keys[j] = "spool_lock:" + tg
				}
				var locks *redis.SliceCmd
				var fields *redis.SliceCmd
				_, err := e.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
					locks = p.MGet(ctx, keys...)
					fields = p.HMGet(ctx, RestoredKey, batch...)
					return nil
				})
				if err != nil {
					fail("read: %v", err)
					return
				}
				looks.Add(1)
				for j, tg := range batch {
					lock, _ := locks.Val()[j].(string)
					field, _ := fields.Val()[j].(string)
					_, marked, _ := decodeStamped(field)
					switch {
					case strings.HasPrefix(lock, "93:") && marked != lock:
						fail("%s holds the restored %q with marker %q", tg, lock, field)
					case field != "" && marked != lock:
						fail("%s has marker %q but holds %q", tg, field, lock)
					case field != "":
						seen.Add(1)
					}
				}
			}
		})
	}
	wg.Go(func() { // a backend taking every seventh spool, racing the restores
		for b := range batches {
			for i := 0; i < size; i += 7 {
				if stop.Load() {
					return
				}
				e.client.SetNX(ctx, "spool_lock:"+tags[b][i], "6:backend:13-05-2026 11:00:00", 0)
			}
		}
	})
	for b := range batches {
		reqs := make([]jobs.RestoreRequest, size)
		for i, tg := range tags[b] {
			reqs[i] = request(now)
			reqs[i].Tag = tg
		}
		if _, err := e.store.RestoreBatch(ctx, reqs); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		t.Fatal(err)
	}
	if looks.Load() == 0 || seen.Load() == 0 {
		t.Fatalf("%d looks saw %d markers: the readers did not race the restores", looks.Load(), seen.Load())
	}
	t.Logf("%d looks, %d markers seen", looks.Load(), seen.Load())
}

// TestMarkerWrittenWhenRedisStalls: a batch sent while Redis is stopped (SIGSTOP) whose
// client gives up runs whole or not at all once Redis goes on: no lock without its marker.
func TestMarkerWrittenWhenRedisStalls(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	reqs := make([]jobs.RestoreRequest, 300)
	for i := range reqs {
		reqs[i] = request(now)
		reqs[i].Tag = fmt.Sprintf("STALL-%03d", i)
	}
	// The script is cached first, so the EVALSHA sent into the stall runs once Redis goes on.
	warm := request(now)
	warm.Tag = "WARM"
	expectOutcome(t, mustRestore(t, e, warm), jobs.OutcomeRestored)
	e.srv.MustDo("HDEL", RestoredKey, "WARM")
	e.srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := e.store.RestoreBatch(ctx, reqs)
	cancel()
	e.srv.Continue()
	if err == nil {
		t.Fatal("a batch against a stopped Redis answered")
	}
	time.Sleep(200 * time.Millisecond)
	locks := len(strings.Fields(e.srv.MustDo("KEYS", "spool_lock:STALL-*")))
	marked, _ := strconv.Atoi(e.srv.MustDo("HLEN", RestoredKey))
	if locks != marked || (locks != 0 && locks != len(reqs)) {
		t.Fatalf("%d locks and %d markers after the stall, want none or %d of each", locks, marked, len(reqs))
	}
	// The retry (the task's) finds its locks and writes nothing more.
	out, err := e.store.RestoreBatch(ctxT(t), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if locks == len(reqs) && out[0] != jobs.OutcomeAlreadyLocked || locks == 0 && out[0] != jobs.OutcomeRestored {
		t.Fatalf("retry answered %q after %d locks", out[0], locks)
	}
	if n, _ := strconv.Atoi(e.srv.MustDo("HLEN", RestoredKey)); n != len(reqs) {
		t.Fatalf("%d markers after the retry, want %d", n, len(reqs))
	}
}

func TestMarkersSkipGarbageAndDropCompares(t *testing.T) {
	e := newEnv(t, Options{})
	at := e.redisNow(t).Add(-time.Minute)
	m := jobs.RestoreMarker{Value: "93:u:13-05-2026 11:33:48", At: at}
	e.setMarker(t, RestoredKey, "A", m.At, m.Value)
	e.srv.MustDo("HSET", RestoredKey, "B", "garbage")
	e.srv.MustDo("HSET", RestoredKey, "C", "x|93:u:v")
	e.srv.MustDo("HSET", LegacyRestoredKey("D"), "f", "v")
	e.srv.MustDo("SET", RestoredPreviousKey, "not a hash")
	got, err := e.store.Markers(ctxT(t), []string{"A", "B", "C", "D"})
	if err != nil || len(got) != 1 || got["A"] != m {
		t.Fatalf("Markers = %+v, %v; want only A", got, err)
	}
	if st, err := e.store.SpoolState(ctxT(t), "A"); err != nil || st.Marker == nil || *st.Marker != m {
		t.Fatalf("SpoolState(A) = %+v, %v", st, err)
	}
	// A marker rewritten by a newer restore is not dropped by the look at the older one.
	newer := jobs.RestoreMarker{Value: "93:w:13-05-2026 11:40:00", At: at.Add(time.Second)}
	if err := e.store.DropMarker(ctxT(t), "A", newer); err != nil {
		t.Fatal(err)
	}
	if e.markerPlaces(t, "A") != 1 {
		t.Fatal("a marker that changed was dropped")
	}
	if err := e.store.DropMarker(ctxT(t), "A", m); err != nil {
		t.Fatal(err)
	}
	if e.markerPlaces(t, "A") != 0 {
		t.Fatal("the verified marker is still there")
	}
	// Garbage is left to age out with its hash; a garbage marker key of another type stays.
	for _, tg := range []string{"B", "C", "D"} {
		if err := e.store.DropMarker(ctxT(t), tg, m); err != nil {
			t.Fatalf("drop %s: %v", tg, err)
		}
	}
	if e.srv.MustDo("HLEN", RestoredKey) != "2" || e.srv.MustDo("TYPE", LegacyRestoredKey("D")) != "hash" {
		t.Fatal("DropMarker touched what is not a marker it read")
	}
	if got, err := e.store.Markers(ctxT(t), nil); err != nil || len(got) != 0 {
		t.Fatalf("Markers(nil) = %v, %v", got, err)
	}
}

// TestMarkerRewrittenSurvivesDropOfOld: the look judged the marker of a first restore; the lock
// was lost and restored again before the look dropped it. The new marker stays, wherever the
// old one was.
func TestMarkerRewrittenSurvivesDropOfOld(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	req := request(now)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
	first, err := e.store.Markers(ctxT(t), []string{tag})
	if err != nil || len(first) != 1 {
		t.Fatalf("Markers = %v, %v", first, err)
	}
	for _, rotate := range []bool{false, true} {
		e.srv.MustDo("DEL", "spool_lock:"+tag)
		time.Sleep(2 * time.Millisecond) // a later restore, a later millisecond
		if rotate {                      // the first marker is in the previous generation by now
			e.srv.MustDo("PEXPIRE", RestoredKey, "1000")
		}
		expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
		second, err := e.store.Markers(ctxT(t), []string{tag})
		if err != nil || second[tag] == first[tag] || second[tag].Value != e.srv.MustDo("GET", "spool_lock:"+tag) {
			t.Fatalf("rotate=%v: Markers after the second restore = %v, %v (first %v)", rotate, second, err, first)
		}
		if err := e.store.DropMarker(ctxT(t), tag, first[tag]); err != nil {
			t.Fatal(err)
		}
		if got, err := e.store.Markers(ctxT(t), []string{tag}); err != nil || got[tag] != second[tag] {
			t.Fatalf("rotate=%v: after dropping the old marker: %v, %v; want %v", rotate, got, err, second)
		}
		if n := e.markerPlaces(t, tag); n != 1 {
			t.Fatalf("rotate=%v: the tag has markers in %d places", rotate, n)
		}
		first = second
	}
	// By construction, not by clock: the current generation was written after the previous
	// one, even when Redis's clock stepped back in between.
	now2 := e.redisNow(t)
	e.setMarker(t, RestoredPreviousKey, "S", now2.Add(-time.Second), "93:first")
	e.setMarker(t, RestoredKey, "S", now2.Add(-2*time.Second), "93:second")
	got, err := e.store.Markers(ctxT(t), []string{"S"})
	if err != nil || got["S"].Value != "93:second" {
		t.Fatalf("Markers(S) = %v, %v; want the current generation's", got, err)
	}
	if err := e.store.DropMarker(ctxT(t), "S", jobs.RestoreMarker{Value: "93:first", At: now2.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.Markers(ctxT(t), []string{"S"}); got["S"].Value != "93:second" || e.markerPlaces(t, "S") != 1 {
		t.Fatalf("dropping the previous generation's marker took the current one's: %v", got)
	}
	// Dropping the current generation's takes the previous one's it superseded.
	e.setMarker(t, RestoredPreviousKey, "S", now2.Add(-time.Second), "93:first")
	if err := e.store.DropMarker(ctxT(t), "S", got["S"]); err != nil || e.markerPlaces(t, "S") != 0 {
		t.Fatalf("after dropping the current marker %d places hold one (%v)", e.markerPlaces(t, "S"), err)
	}
}

// TestMarkerOlderThanTTLIsAbsent: a field the hash still holds is absent once older than the
// marker TTL, in every place, to Markers as to SpoolState (explain), as a key per marker
// expired.
func TestMarkerOlderThanTTLIsAbsent(t *testing.T) {
	const ttl = 30 * time.Second
	e := newEnv(t, Options{MarkerTTL: ttl})
	now := e.redisNow(t)
	for _, place := range []string{RestoredKey, RestoredPreviousKey, "legacy"} {
		set := func(tg string, at time.Time) {
			if place == "legacy" {
				e.srv.MustDo("SET", LegacyRestoredKey(tg), encodeStamped(at, "93:v"), "PX", "600000")
				return
			}
			e.setMarker(t, place, tg, at, "93:v")
		}
		set(place+"-old", now.Add(-ttl-time.Second))
		set(place+"-young", now.Add(-ttl+5*time.Second))
		got, err := e.store.Markers(ctxT(t), []string{place + "-old", place + "-young"})
		if err != nil || len(got) != 1 || got[place+"-young"].Value != "93:v" {
			t.Fatalf("%s: Markers = %v, %v; want only the young one", place, got, err)
		}
		if st, err := e.store.SpoolState(ctxT(t), place+"-old"); err != nil || st.Marker != nil {
			t.Fatalf("%s: SpoolState shows a marker past its TTL: %+v, %v", place, st.Marker, err)
		}
		if st, err := e.store.SpoolState(ctxT(t), place+"-young"); err != nil || st.Marker == nil {
			t.Fatalf("%s: SpoolState hides a live marker: %+v, %v", place, st.Marker, err)
		}
	}
	// A newer marker past its TTL hides nothing older: older ones are past it too.
	e.setMarker(t, RestoredKey, "BOTH", now.Add(-ttl-time.Second), "93:new")
	e.setMarker(t, RestoredPreviousKey, "BOTH", now.Add(-ttl-2*time.Second), "93:old")
	if got, err := e.store.Markers(ctxT(t), []string{"BOTH"}); err != nil || len(got) != 0 {
		t.Fatalf("Markers(BOTH) = %v, %v", got, err)
	}
}

func TestPickMarkerBoundaries(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	const ttl = time.Minute
	enc := func(d time.Duration, v string) string { return encodeStamped(now.Add(-d), v) }
	for _, c := range []struct {
		name string
		raws [markerSources]string
		want string // value, "" for none
	}{
		{"exactly the TTL old counts (a key with PX ttl exists at t + ttl)", [3]string{enc(ttl, "a")}, "a"},
		{"a millisecond more does not", [3]string{enc(ttl+time.Millisecond, "a")}, ""},
		{"the current generation over the previous, whatever the times", [3]string{enc(2*time.Second, "cur"), enc(time.Second, "prev"), enc(3*time.Second, "legacy")}, "cur"},
		{"the previous generation without a current one", [3]string{"", enc(2*time.Second, "prev"), enc(3*time.Second, "legacy")}, "prev"},
		{"an earlier version's later marker", [3]string{enc(2*time.Second, "cur"), "", enc(time.Second, "legacy")}, "legacy"},
		{"an earlier version's later marker, over the previous generation", [3]string{"", enc(2*time.Second, "prev"), enc(time.Second, "legacy")}, "legacy"},
		{"a tie goes to the hash", [3]string{enc(time.Second, "cur"), enc(time.Second, "prev"), enc(time.Second, "legacy")}, "cur"},
		{"garbage is skipped", [3]string{"garbage", "x|y", enc(time.Second, "legacy")}, "legacy"},
		{"a garbage current field leaves the previous one", [3]string{"garbage", enc(time.Second, "prev"), ""}, "prev"},
		{"nothing", [3]string{}, ""},
	} {
		m, ok := pickMarker(now, ttl, c.raws)
		if ok != (c.want != "") || m.Value != c.want {
			t.Errorf("%s: %+v %v, want %q", c.name, m, ok, c.want)
		}
	}
}

// TestMarkerHashStaysBounded: restores going on for many marker TTLs keep at most two
// generations' markers (each hash at most one TTL's writes), every marker readable for its TTL,
// and both hashes expiring by themselves. Time is moved by shortening the current hash's TTL,
// which is how its age is known.
func TestMarkerHashStaysBounded(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	ttl := RestoredMarkerTTL(time.Minute).Milliseconds()
	const perGeneration = 40
	restore := func(g int) {
		t.Helper()
		reqs := make([]jobs.RestoreRequest, perGeneration)
		for i := range reqs {
			reqs[i] = request(now)
			reqs[i].Tag = fmt.Sprintf("G%02d-%02d", g, i)
		}
		if _, err := e.store.RestoreBatch(ctxT(t), reqs); err != nil {
			t.Fatal(err)
		}
	}
	hlen := func(key string) int { n, _ := strconv.Atoi(e.srv.MustDo("HLEN", key)); return n }
	restore(0)
	if hlen(RestoredKey) != perGeneration || e.exists(t, RestoredPreviousKey) {
		t.Fatalf("first generation: %d fields, previous exists %v", hlen(RestoredKey), e.exists(t, RestoredPreviousKey))
	}
	// Younger than one TTL: more restores join the same generation.
	e.srv.MustDo("PEXPIRE", RestoredKey, strconv.FormatInt(ttl+5000, 10))
	restore(1)
	if hlen(RestoredKey) != 2*perGeneration || e.exists(t, RestoredPreviousKey) {
		t.Fatalf("same generation: %d fields", hlen(RestoredKey))
	}
	for g := 2; g < 12; g++ {
		// The current hash is now older than one TTL (less than one TTL left of its two).
		e.srv.MustDo("PEXPIRE", RestoredKey, strconv.FormatInt(ttl-1000, 10))
		prevFields := hlen(RestoredKey)
		restore(g)
		if hlen(RestoredPreviousKey) != prevFields || hlen(RestoredKey) != perGeneration {
			t.Fatalf("generation %d: current %d fields, previous %d (want %d, %d)", g, hlen(RestoredKey), hlen(RestoredPreviousKey), perGeneration, prevFields)
		}
		// The renamed generation keeps a full TTL from now; the new one is born with two.
		if p := e.pttl(t, RestoredPreviousKey); p < ttl-5000 || p > ttl {
			t.Fatalf("generation %d: previous PTTL %d, want about %d", g, p, ttl)
		}
		if c := e.pttl(t, RestoredKey); c < 2*ttl-5000 || c > 2*ttl {
			t.Fatalf("generation %d: current PTTL %d, want about %d", g, c, 2*ttl)
		}
		if g < 3 {
			continue
		}
		// Both generations are read; the one before is gone.
		tags := []string{fmt.Sprintf("G%02d-00", g), fmt.Sprintf("G%02d-00", g-1), fmt.Sprintf("G%02d-00", g-2)}
		got, err := e.store.Markers(ctxT(t), tags)
		if err != nil || len(got) != 2 || got[tags[2]].Value != "" {
			t.Fatalf("generation %d: Markers(%v) = %v, %v", g, tags, got, err)
		}
	}
	if n := hlen(RestoredKey) + hlen(RestoredPreviousKey); n > 2*perGeneration {
		t.Fatalf("%d markers kept after 12 generations of %d", n, perGeneration)
	}
	// A current hash that lost its TTL has an unknown age: the next writer moves it away.
	e.srv.MustDo("PERSIST", RestoredKey)
	restore(20)
	if hlen(RestoredKey) != perGeneration || e.pttl(t, RestoredKey) <= ttl || e.pttl(t, RestoredPreviousKey) <= 0 {
		t.Fatalf("after a hash without TTL: current %d fields PTTL %d, previous PTTL %d", hlen(RestoredKey), e.pttl(t, RestoredKey), e.pttl(t, RestoredPreviousKey))
	}
	// Another type where the hash should be is replaced: the restores are still marked.
	e.srv.MustDo("SET", RestoredKey, "not a hash", "PX", strconv.FormatInt(2*ttl, 10))
	restore(21)
	if e.srv.MustDo("TYPE", RestoredKey) != "hash" || hlen(RestoredKey) != perGeneration || e.pttl(t, RestoredKey) <= ttl {
		t.Fatalf("after another type: %s, %d fields, PTTL %d", e.srv.MustDo("TYPE", RestoredKey), hlen(RestoredKey), e.pttl(t, RestoredKey))
	}
	// Idle: both disappear by themselves.
	e.srv.MustDo("PEXPIRE", RestoredKey, "50")
	e.srv.MustDo("PEXPIRE", RestoredPreviousKey, "50")
	time.Sleep(200 * time.Millisecond)
	if e.exists(t, RestoredKey) || e.exists(t, RestoredPreviousKey) {
		t.Fatal("the marker hashes did not expire")
	}
}

// TestMarkersOfEarlierVersions: during a rolling deploy a worker of the version before writes
// `reconciler:restored:{TAG}` (SET PX) and may take a spool through its own restore or swap
// after ours. The newer marker counts wherever it is, dropping it drops the ones it superseded,
// and a deletion takes every one.
func TestMarkersOfEarlierVersions(t *testing.T) {
	e := newEnv(t, Options{})
	px := strconv.FormatInt(DefaultMarkerTTL.Milliseconds(), 10)
	now := e.redisNow(t)
	legacy := func(tg string, at time.Time, v string) {
		e.srv.MustDo("SET", LegacyRestoredKey(tg), encodeStamped(at, v), "PX", px)
	}
	// Only an earlier version's marker: read, and dropped while unchanged.
	old := jobs.RestoreMarker{Value: "93:old:13-05-2026 11:00:00", At: now.Add(-time.Minute)}
	legacy("L", old.At, old.Value)
	if got, err := e.store.Markers(ctxT(t), []string{"L"}); err != nil || got["L"] != old {
		t.Fatalf("Markers(L) = %v, %v", got, err)
	}
	if err := e.store.DropMarker(ctxT(t), "L", jobs.RestoreMarker{Value: "93:other", At: old.At}); err != nil || !e.exists(t, LegacyRestoredKey("L")) {
		t.Fatalf("a marker of another value was dropped (%v)", err)
	}
	if err := e.store.DropMarker(ctxT(t), "L", old); err != nil || e.exists(t, LegacyRestoredKey("L")) {
		t.Fatalf("the earlier version's marker was not dropped (%v)", err)
	}

	// Our restore after theirs: ours counts; dropping it drops theirs.
	legacy(tag, old.At, old.Value)
	expectOutcome(t, mustRestore(t, e, request(time.Now())), jobs.OutcomeRestored)
	v := e.srv.MustDo("GET", "spool_lock:"+tag)
	got, err := e.store.Markers(ctxT(t), []string{tag})
	if err != nil || got[tag].Value != v {
		t.Fatalf("Markers = %v, %v; want ours (%q)", got, err, v)
	}
	if err := e.store.DropMarker(ctxT(t), tag, got[tag]); err != nil || e.markerPlaces(t, tag) != 0 {
		t.Fatalf("after dropping ours, %d places hold a marker (%v)", e.markerPlaces(t, tag), err)
	}

	// Theirs after ours (their swap of our restored lock): theirs counts, and ours is dropped
	// with it; a look that read ours (before their swap) drops ours only.
	expectOutcome(t, mustRestore(t, e, func() jobs.RestoreRequest { r := request(time.Now()); r.Tag = "SW"; return r }()), jobs.OutcomeRestored)
	ours, _ := e.store.Markers(ctxT(t), []string{"SW"})
	theirs := jobs.RestoreMarker{Value: "95:theirs:13-05-2026 11:30:00", At: ours["SW"].At.Add(time.Second)}
	legacy("SW", theirs.At, theirs.Value)
	if got, err := e.store.Markers(ctxT(t), []string{"SW"}); err != nil || got["SW"] != theirs {
		t.Fatalf("Markers(SW) = %v, %v; want theirs", got, err)
	}
	if err := e.store.DropMarker(ctxT(t), "SW", ours["SW"]); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.Markers(ctxT(t), []string{"SW"}); got["SW"] != theirs || e.markerPlaces(t, "SW") != 1 {
		t.Fatalf("dropping ours took theirs: %v", got)
	}
	if err := e.store.DropMarker(ctxT(t), "SW", theirs); err != nil || e.markerPlaces(t, "SW") != 0 {
		t.Fatalf("theirs not dropped: %d places (%v)", e.markerPlaces(t, "SW"), err)
	}

	// A retraction deletes theirs with the lock.
	legacy("DL", old.At, old.Value)
	e.srv.MustDo("SET", "spool_lock:DL", old.Value)
	if ok, err := e.store.DeleteLock(ctxT(t), "DL", old.Value, jobs.ActionRetracted, jobs.HistoryNote{}); err != nil || !ok || e.markerPlaces(t, "DL") != 0 {
		t.Fatalf("retraction: %v %v, %d places hold a marker", ok, err, e.markerPlaces(t, "DL"))
	}
	// A swap of a lock they restored replaces their marker with ours.
	legacy("RP", old.At, old.Value)
	e.srv.MustDo("SET", "spool_lock:RP", old.Value)
	nv, ok, err := e.store.ReplaceLock(ctxT(t), old.Value, jobs.RestoreRequest{Tag: "RP", WorkerID: 95, OccupiedAt: time.Now(), Settle: time.Minute}, jobs.HistoryNote{})
	if err != nil || !ok || e.markerPlaces(t, "RP") != 1 {
		t.Fatalf("swap: %v %v, %d places hold a marker", ok, err, e.markerPlaces(t, "RP"))
	}
	if got, _ := e.store.Markers(ctxT(t), []string{"RP"}); got["RP"].Value != nv {
		t.Fatalf("Markers(RP) = %v, want the swapped-in %q", got, nv)
	}
	// Our restores never write the key an earlier version reads.
	if keys := e.srv.MustDo("KEYS", LegacyRestoredPrefix+"*"); keys != "" {
		t.Fatalf("keys of earlier versions left: %q", keys)
	}
}

func TestOrphanSightings(t *testing.T) {
	e := newEnv(t, Options{})
	t0 := time.UnixMilli(1_778_000_000_000)
	s := func(v string, at time.Time) jobs.OrphanSighting { return jobs.OrphanSighting{Value: v, FirstSeen: at} }
	rec := map[string]jobs.OrphanSighting{"A": s("1:a:x", t0), "B": s("2:b|with bar:x", t0)}
	if err := e.store.UpdateOrphans(ctxT(t), rec, nil); err != nil {
		t.Fatal(err)
	}
	// A second replica (or a later run) seeing the same values later keeps the first sighting;
	// another value starts over.
	later := t0.Add(time.Minute)
	if err := e.store.UpdateOrphans(ctxT(t), map[string]jobs.OrphanSighting{"A": s("1:a:x", later), "B": s("2:new:x", later)}, nil); err != nil {
		t.Fatal(err)
	}
	all, err := e.store.OrphanSightings(ctxT(t), nil)
	if err != nil || len(all) != 2 || all["A"] != s("1:a:x", t0) || all["B"] != s("2:new:x", later) {
		t.Fatalf("sightings = %+v, %v", all, err)
	}
	if raw := e.srv.MustDo("HGET", "reconciler:orphans", "A"); !strings.HasPrefix(raw, strconv.FormatInt(t0.UnixMilli(), 10)+"|") {
		t.Fatalf("stored sighting %q", raw)
	}
	some, err := e.store.OrphanSightings(ctxT(t), []string{"B", "Z"})
	if err != nil || len(some) != 1 || some["B"] != s("2:new:x", later) {
		t.Fatalf("sightings of B, Z = %+v, %v", some, err)
	}
	// Forget compares: a sighting replaced since it was read stays.
	if err := e.store.UpdateOrphans(ctxT(t), nil, map[string]jobs.OrphanSighting{"A": s("1:a:x", t0), "B": s("2:b|with bar:x", t0)}); err != nil {
		t.Fatal(err)
	}
	all, err = e.store.OrphanSightings(ctxT(t), nil)
	if err != nil || len(all) != 1 || all["B"] != s("2:new:x", later) {
		t.Fatalf("after forget: %+v, %v", all, err)
	}
	// Garbage is skipped on read and replaced on record.
	e.srv.MustDo("HSET", OrphansKey, "G", "garbage")
	if got, err := e.store.OrphanSightings(ctxT(t), []string{"G"}); err != nil || len(got) != 0 {
		t.Fatalf("garbage sighting read as %+v, %v", got, err)
	}
	if err := e.store.UpdateOrphans(ctxT(t), map[string]jobs.OrphanSighting{"G": s("3:g:x", t0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.OrphanSightings(ctxT(t), []string{"G"}); got["G"] != s("3:g:x", t0) {
		t.Fatalf("garbage not replaced: %+v", got)
	}
	if err := e.downStore(t).UpdateOrphans(ctxT(t), rec, nil); err == nil {
		t.Fatal("UpdateOrphans with Redis down: no error")
	}
}

func TestCountLocks(t *testing.T) {
	e := newEnv(t, Options{})
	for _, k := range []string{"spool_lock:A", "spool_lock:B", "spool_lock:C", "other", LegacyRestoredKey("A"), TombstoneKey("B")} {
		e.srv.MustDo("SET", k, "1:u:13-05-2026 11:33:48")
	}
	hook := &countingHook{}
	e.client.AddHook(hook)
	n, err := e.store.CountLocks(ctxT(t))
	if err != nil || n != 3 {
		t.Fatalf("CountLocks = %d, %v; want 3", n, err)
	}
	for _, c := range hook.cmds {
		if c.Name() != "scan" {
			t.Fatalf("CountLocks sent %s: it must not read values", c.Name())
		}
	}
}
