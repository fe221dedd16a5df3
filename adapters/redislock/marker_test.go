package redislock

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"reconciler/jobs"
)

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
	raw := e.srv.MustDo("GET", "reconciler:restored:"+tag)
	ms, value, ok := strings.Cut(raw, "|")
	at, perr := strconv.ParseInt(ms, 10, 64)
	if !ok || perr != nil || value != v || at < before.UnixMilli() || at > after.UnixMilli() {
		t.Fatalf("marker = %q, want the restore's Redis time (%d..%d) and the value %q", raw, before.UnixMilli(), after.UnixMilli(), v)
	}
	now = time.UnixMilli(at)
	ttl := e.pttl(t, RestoredKey(tag))
	want := (7*time.Second + RestoredMarkerMargin).Milliseconds()
	if ttl <= want-5000 || ttl > want {
		t.Fatalf("marker PTTL = %d, want about %d (RELEASE_SETTLE + margin)", ttl, want)
	}
	got, err := e.store.Markers(ctxT(t), []string{tag, "NONE"})
	if err != nil || len(got) != 1 || got[tag].Value != v || !got[tag].At.Equal(now) {
		t.Fatalf("Markers = %+v, %v", got, err)
	}

	// Every other outcome leaves the marker alone and writes none.
	e.srv.MustDo("DEL", RestoredKey(tag))
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
	if e.exists(t, RestoredKey(tag)) {
		t.Fatal("a restore that did not write a lock wrote a marker")
	}
}

func TestMarkersSkipGarbageAndDropCompares(t *testing.T) {
	e := newEnv(t, Options{})
	at := time.UnixMilli(1_778_000_000_123)
	m := jobs.RestoreMarker{Value: "93:u:13-05-2026 11:33:48", At: at}
	e.srv.MustDo("SET", RestoredKey("A"), encodeStamped(m.At, m.Value))
	e.srv.MustDo("SET", RestoredKey("B"), "garbage")
	e.srv.MustDo("SET", RestoredKey("C"), "x|93:u:v")
	e.srv.MustDo("HSET", RestoredKey("D"), "f", "v")
	got, err := e.store.Markers(ctxT(t), []string{"A", "B", "C", "D"})
	if err != nil || len(got) != 1 || got["A"] != m {
		t.Fatalf("Markers = %+v, %v; want only A", got, err)
	}
	// A marker rewritten by a newer restore is not dropped by the look at the older one.
	newer := jobs.RestoreMarker{Value: "93:w:13-05-2026 11:40:00", At: at.Add(time.Minute)}
	if err := e.store.DropMarker(ctxT(t), "A", newer); err != nil {
		t.Fatal(err)
	}
	if !e.exists(t, RestoredKey("A")) {
		t.Fatal("a marker that changed was dropped")
	}
	if err := e.store.DropMarker(ctxT(t), "A", m); err != nil {
		t.Fatal(err)
	}
	if e.exists(t, RestoredKey("A")) {
		t.Fatal("the verified marker is still there")
	}
	if got, err := e.store.Markers(ctxT(t), nil); err != nil || len(got) != 0 {
		t.Fatalf("Markers(nil) = %v, %v", got, err)
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
	for _, k := range []string{"spool_lock:A", "spool_lock:B", "spool_lock:C", "other", RestoredKey("A"), TombstoneKey("B")} {
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
