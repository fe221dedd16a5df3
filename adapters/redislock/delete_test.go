package redislock

import "testing"

func TestDeleteIfValue(t *testing.T) {
	e := newEnv(t, Options{})
	key := "spool_lock:" + tag
	const v = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48"

	e.srv.MustDo("SET", key, v)
	deleted, err := e.store.DeleteIfValue(ctxT(t), tag, v)
	if err != nil || !deleted {
		t.Fatalf("matching value: deleted = %v, err = %v", deleted, err)
	}
	if e.exists(t, key) {
		t.Fatal("key still exists after a matching delete")
	}

	// The lock changed between the read and the delete: kept.
	e.srv.MustDo("SET", key, "7:new:13-05-2026 12:00:00")
	deleted, err = e.store.DeleteIfValue(ctxT(t), tag, v)
	if err != nil || deleted {
		t.Fatalf("changed value: deleted = %v, err = %v", deleted, err)
	}
	if got := e.srv.MustDo("GET", key); got != "7:new:13-05-2026 12:00:00" {
		t.Fatalf("value = %q", got)
	}

	// Absent, or another type: nothing to delete, no error.
	deleted, err = e.store.DeleteIfValue(ctxT(t), "ABSENT", v)
	if err != nil || deleted {
		t.Fatalf("absent: deleted = %v, err = %v", deleted, err)
	}
	e.srv.MustDo("HSET", "spool_lock:H", "f", v)
	deleted, err = e.store.DeleteIfValue(ctxT(t), "H", v)
	if err != nil || deleted || !e.exists(t, "spool_lock:H") {
		t.Fatalf("hash: deleted = %v, err = %v", deleted, err)
	}
}
