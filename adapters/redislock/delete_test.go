package redislock

import (
	"testing"
	"time"

	"reconciler/jobs"
)

func TestDeleteLockComparesAndTakesBookkeeping(t *testing.T) {
	e := newEnv(t, Options{})
	key := "spool_lock:" + tag
	const v = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48"
	at := e.redisNow(t).Add(-time.Minute)
	e.srv.MustDo("SET", key, v)
	e.setMarker(t, RestoredKey, tag, at, v)
	e.setMarker(t, RestoredPreviousKey, tag, at.Add(-time.Second), v)
	e.setMarker(t, RestoredKey, "KEEP", at, "x")
	e.srv.MustDo("SET", LegacyRestoredKey(tag), encodeStamped(at.Add(-2*time.Second), v), "PX", "600000")
	if err := e.store.UpdateOrphans(ctxT(t), map[string]jobs.OrphanSighting{tag: {Value: v, FirstSeen: at}, "KEEP": {Value: "x", FirstSeen: at}}, nil); err != nil {
		t.Fatal(err)
	}
	// The lock changed between the read and the delete: nothing is touched.
	deleted, err := e.store.DeleteLock(ctxT(t), tag, "93:other:13-05-2026 11:33:48", jobs.ActionReleased, jobs.HistoryNote{})
	if err != nil || deleted {
		t.Fatalf("changed value: deleted = %v, err = %v", deleted, err)
	}
	if !e.exists(t, key) || e.markerPlaces(t, tag) != 3 || e.srv.MustDo("HEXISTS", OrphansKey, tag) != "1" {
		t.Fatal("a failed compare touched the lock or its bookkeeping")
	}
	deleted, err = e.store.DeleteLock(ctxT(t), tag, v, jobs.ActionReleased, jobs.HistoryNote{})
	if err != nil || !deleted {
		t.Fatalf("matching value: deleted = %v, err = %v", deleted, err)
	}
	if e.exists(t, key) || e.markerPlaces(t, tag) != 0 || e.srv.MustDo("HEXISTS", OrphansKey, tag) != "0" {
		t.Fatal("the lock, its marker (in either generation or an earlier version's key) or its sighting outlived the delete")
	}
	if e.srv.MustDo("HEXISTS", OrphansKey, "KEEP") != "1" || e.srv.MustDo("HEXISTS", RestoredKey, "KEEP") != "1" {
		t.Fatal("another tag's sighting or marker was deleted")
	}
	// Absent, or another type: nothing to delete, no error.
	deleted, err = e.store.DeleteLock(ctxT(t), "ABSENT", v, jobs.ActionReleased, jobs.HistoryNote{})
	if err != nil || deleted {
		t.Fatalf("absent: deleted = %v, err = %v", deleted, err)
	}
	e.srv.MustDo("HSET", "spool_lock:H", "f", v)
	deleted, err = e.store.DeleteLock(ctxT(t), "H", v, jobs.ActionReleased, jobs.HistoryNote{})
	if err != nil || deleted || !e.exists(t, "spool_lock:H") {
		t.Fatalf("hash: deleted = %v, err = %v", deleted, err)
	}
}
