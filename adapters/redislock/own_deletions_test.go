package redislock

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
	"reconciler/tests/redisserver"
)

// keyspaceEvents subscribes to every keyspace event of the lock keys (notifications turned on)
// and returns a function that waits briefly and returns what arrived so far, "event key".
func keyspaceEvents(t *testing.T, e *env) func() []string {
	t.Helper()
	e.srv.MustDo("CONFIG", "SET", "notify-keyspace-events", "KA")
	ps := e.client.PSubscribe(ctxT(t), "__keyspace@0__:*")
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(ctxT(t)); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	ch := ps.Channel()
	return func() []string {
		var out []string
		for {
			select {
			case m := <-ch:
				out = append(out, m.Payload+" "+strings.TrimPrefix(m.Channel, "__keyspace@0__:"))
			case <-time.After(300 * time.Millisecond):
				return out
			}
		}
	}
}

// TestDeleteLockLeavesNoDelEvent: the worker's own deletion is no `del` of the lock key (the
// watcher would tombstone it): the key is renamed away and deleted under a reconciler:* name,
// all in one step, and nothing of it is left. The backend's DEL still shows as `del`.
func TestDeleteLockLeavesNoDelEvent(t *testing.T) {
	e := newEnv(t, Options{})
	events := keyspaceEvents(t, e)
	key := "spool_lock:" + tag
	const v = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48"
	e.srv.MustDo("SET", key, v)
	events()
	deleted, err := e.store.DeleteLock(ctxT(t), tag, v, jobs.ActionReleased, jobs.HistoryNote{})
	if err != nil || !deleted {
		t.Fatalf("deleted = %v, err = %v", deleted, err)
	}
	got := events()
	for _, ev := range got {
		if ev == "del "+key {
			t.Fatalf("the worker's deletion was seen as a del of the lock key: %v", got)
		}
	}
	if !containsEvent(got, "rename_from "+key) || !containsEvent(got, "del "+DeletingKey(tag)) {
		t.Fatalf("events %v: want rename_from of the lock key and del of its deleting key", got)
	}
	if e.exists(t, key) || e.exists(t, DeletingKey(tag)) {
		t.Fatal("the lock or its deleting key outlived the delete")
	}
	// The backend's own release is a del, as before.
	e.srv.MustDo("SET", key, v)
	e.srv.MustDo("DEL", key)
	if got := events(); !containsEvent(got, "del "+key) {
		t.Fatalf("a plain DEL: events %v", got)
	}
}

func containsEvent(events []string, want string) bool {
	for _, ev := range events {
		if ev == want {
			return true
		}
	}
	return false
}

// TestReplaceLockSwapsInOneStep: a restored value is replaced by another occupation's lock only
// while it is unchanged, with a new restore marker and without the old sighting; the key is
// never empty (a reader polling it during the swap sees the old or the new value, never none).
func TestReplaceLockSwapsInOneStep(t *testing.T) {
	e := newEnv(t, Options{})
	loc := santiago(t)
	key := "spool_lock:" + tag
	old := FormatValue(93, uuid.New(), time.Date(2026, 5, 13, 11, 0, 0, 0, loc), loc)
	at := time.Date(2026, 5, 13, 11, 30, 5, 0, loc)
	e.srv.MustDo("SET", key, old)
	// The restored value's marker, in the previous generation, and an earlier version's key.
	e.setMarker(t, RestoredPreviousKey, tag, e.redisNow(t).Add(-time.Minute), old)
	e.srv.MustDo("SET", LegacyRestoredKey(tag), encodeStamped(e.redisNow(t).Add(-2*time.Minute), old), "PX", "600000")
	if err := e.store.UpdateOrphans(ctxT(t), map[string]jobs.OrphanSighting{tag: {Value: old, FirstSeen: at}}, nil); err != nil {
		t.Fatal(err)
	}
	req := jobs.RestoreRequest{Tag: tag, WorkerID: 95, OccupiedAt: at, Settle: time.Minute}

	// A value changed since it was read is never touched.
	if v, ok, err := e.store.ReplaceLock(ctxT(t), "93:other:13-05-2026 11:00:00", req, jobs.HistoryNote{}); err != nil || ok || v != "" {
		t.Fatalf("changed value: %q %v %v", v, ok, err)
	}
	if e.srv.MustDo("GET", key) != old {
		t.Fatal("a failed compare touched the lock")
	}

	// Poll the key during the swap.
	ctx, cancel := context.WithCancel(ctxT(t))
	empty := make(chan int, 1)
	go func() {
		c := redis.NewClient(&redis.Options{Addr: e.srv.Addr()})
		defer c.Close()
		n := 0
		for ctx.Err() == nil {
			if err := c.Get(ctx, key).Err(); err == redis.Nil {
				n++
			}
		}
		empty <- n
	}()
	time.Sleep(50 * time.Millisecond)
	before := e.redisNow(t)
	v, ok, err := e.store.ReplaceLock(ctxT(t), old, req, jobs.HistoryNote{})
	time.Sleep(50 * time.Millisecond)
	cancel()
	if n := <-empty; n != 0 {
		t.Errorf("the key was empty %d times during the swap", n)
	}
	if err != nil || !ok {
		t.Fatalf("swap: %v %v", ok, err)
	}
	if got := e.srv.MustDo("GET", key); got != v || !strings.HasPrefix(v, "95:") || !strings.HasSuffix(v, ":13-05-2026 11:30:05") {
		t.Fatalf("lock %q after the swap, returned %q", got, v)
	}
	if ttl := e.pttl(t, key); ttl != -1 {
		t.Fatalf("the new lock has PTTL %d, want none", ttl)
	}
	markerAt, markerValue, ok := decodeStamped(e.srv.MustDo("HGET", RestoredKey, tag))
	if !ok || markerValue != v || markerAt.Before(before) {
		t.Fatalf("marker %v %q, want the new value at Redis time ≥ %v", markerAt, markerValue, before)
	}
	if ttl := e.pttl(t, RestoredKey); ttl <= RestoredMarkerTTL(time.Minute).Milliseconds() || ttl > 2*RestoredMarkerTTL(time.Minute).Milliseconds() {
		t.Fatalf("marker hash PTTL %d, want two marker TTLs from its birth", ttl)
	}
	if n := e.markerPlaces(t, tag); n != 1 {
		t.Fatalf("the tag has markers in %d places after the swap, want only the new one", n)
	}
	if got, err := e.store.Markers(ctxT(t), []string{tag}); err != nil || got[tag].Value != v {
		t.Fatalf("Markers = %v, %v; want the new value's", got, err)
	}
	if e.srv.MustDo("HEXISTS", OrphansKey, tag) != "0" {
		t.Fatal("the old value's sighting outlived the swap")
	}
	// Absent or another type: nothing.
	e.srv.MustDo("HSET", "spool_lock:H", "f", v)
	if _, ok, err := e.store.ReplaceLock(ctxT(t), v, jobs.RestoreRequest{Tag: "H", WorkerID: 1, OccupiedAt: at}, jobs.HistoryNote{}); err != nil || ok {
		t.Fatalf("hash: %v %v", ok, err)
	}
	if _, ok, err := e.store.ReplaceLock(ctxT(t), v, jobs.RestoreRequest{Tag: "ABSENT", WorkerID: 1, OccupiedAt: at}, jobs.HistoryNote{}); err != nil || ok || e.exists(t, "spool_lock:ABSENT") {
		t.Fatalf("absent: %v %v", ok, err)
	}
}

// TestLocksReadTTL: reads return the time a lock key has left (0 for a persistent key), by tag
// and by scan, without touching the TTL.
func TestLocksReadTTL(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.MustDo("SET", "spool_lock:IN-FLIGHT", "93:u:13-05-2026 11:00:00", "NX", "EX", "10")
	e.srv.MustDo("SET", "spool_lock:PERSISTENT", "93:v:13-05-2026 11:00:00")
	e.srv.MustDo("HSET", "spool_lock:HASH", "a", "b")
	e.srv.MustDo("PEXPIRE", "spool_lock:HASH", "5000")
	for name, read := range map[string]func() (map[string]jobs.Lock, error){
		"Locks": func() (map[string]jobs.Lock, error) {
			return e.store.Locks(ctxT(t), []string{"IN-FLIGHT", "PERSISTENT", "HASH", "ABSENT"})
		},
		"AllLocks": func() (map[string]jobs.Lock, error) { return e.store.AllLocks(ctxT(t)) },
	} {
		locks, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if len(locks) != 2 {
			t.Fatalf("%s: %+v", name, locks)
		}
		if ttl := locks["IN-FLIGHT"].TTL; ttl <= 9*time.Second || ttl > 10*time.Second {
			t.Errorf("%s: TTL of the lock set with EX 10 = %v", name, ttl)
		}
		if l := locks["PERSISTENT"]; l.TTL != 0 || l.WorkerID != 93 {
			t.Errorf("%s: persistent lock %+v", name, l)
		}
	}
	if ttl := e.pttl(t, "spool_lock:IN-FLIGHT"); ttl <= 0 {
		t.Fatalf("reading changed the TTL: PTTL %d", ttl)
	}
}

// BenchmarkReadLocks compares, over 20,000 locks, the lock read with every TTL asked (MGETs of
// 1,000 keys and a PTTL per key, one pipeline: a targeted read, and a full read's first), the
// full read once the values are known persistent (the steady state), and the plain MGETs:
//
//	go test -run '^$' -bench ReadLocks -benchtime 20x -count 5 ./adapters/redislock/
func BenchmarkReadLocks(b *testing.B) {
	e := newEnv(b, Options{})
	ctx := context.Background()
	const n = 20000
	keys := make([]string, n)
	pipe := e.client.Pipeline()
	for i := range n {
		keys[i] = fmt.Sprintf("spool_lock:MK-%05d", i)
		pipe.Set(ctx, keys[i], fmt.Sprintf("%d:%s:13-05-2026 11:00:00", i%97+1, uuid.NewString()), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("MGET+PTTL", func(b *testing.B) {
		for b.Loop() {
			if locks, err := e.store.readLocks(ctx, keys); err != nil || len(locks) != n {
				b.Fatal(len(locks), err)
			}
		}
	})
	b.Run("full read, values known persistent", func(b *testing.B) {
		if _, err := e.store.readAllLocks(ctx, keys); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if locks, err := e.store.readAllLocks(ctx, keys); err != nil || len(locks) != n {
				b.Fatal(len(locks), err)
			}
		}
	})
	b.Run("MGET", func(b *testing.B) {
		for b.Loop() {
			if values, err := e.store.mget(ctx, keys); err != nil || len(values) != n {
				b.Fatal(len(values), err)
			}
		}
	})
}

// TestDeleteLockWithoutRename: on a server with RENAME renamed away, the worker's deletion still
// deletes (seen as a del then, as before this rule).
func TestDeleteLockWithoutRename(t *testing.T) {
	srv := redisserver.Start(t, "--rename-command", "RENAME", "")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	store := New(client, Options{})
	const v = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48"
	srv.MustDo("SET", "spool_lock:"+tag, v)
	if err := client.Rename(ctxT(t), "spool_lock:"+tag, "elsewhere").Err(); err == nil {
		t.Fatal("RENAME still works on this server")
	}
	deleted, err := store.DeleteLock(ctxT(t), tag, v, jobs.ActionReleased, jobs.HistoryNote{})
	if err != nil || !deleted {
		t.Fatalf("deleted = %v, err = %v", deleted, err)
	}
	if n := srv.MustDo("EXISTS", "spool_lock:"+tag); n != "0" {
		t.Fatal("the lock outlived the delete")
	}
}

// TestAllLocksReadsTTLOfEveryNewValue attacks the full read's memory of persistent values the
// way the backend can: a lock seen persistent is replaced (released, the key deleted by the
// lazy cleanup or lost, then taken again) by a stalled INICIAR's SET NX EX 10 whose PERSIST
// never comes. The new value is asked its TTL, so the plan sees an expiring lock, not a
// persistent one; the PERSIST that comes later is seen too. Values seen persistent are not
// asked again (the point of the memory), and a value that vanished is forgotten.
func TestAllLocksReadsTTLOfEveryNewValue(t *testing.T) {
	e := newEnv(t, Options{})
	const old = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:00:00"
	const taken = "7:9c1d0e2f-aaaa-4bbb-8ccc-dddd00001111:13-05-2026 11:05:00"
	e.srv.MustDo("SET", "spool_lock:A", old)
	e.srv.MustDo("SET", "spool_lock:B", "5:u:13-05-2026 11:00:00")
	read := func() map[string]jobs.Lock {
		t.Helper()
		locks, err := e.store.AllLocks(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		return locks
	}
	pttls := func() int {
		t.Helper()
		for _, line := range strings.Split(e.srv.MustDo("INFO", "commandstats"), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_pttl:calls="); ok {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				return n
			}
		}
		return 0
	}
	if l := read()["A"]; l.TTL != 0 || l.Value != old {
		t.Fatalf("first read: %+v", l)
	}
	before := pttls()
	if l := read()["A"]; l.TTL != 0 {
		t.Fatalf("second read: %+v", l)
	}
	if n := pttls() - before; n != 0 {
		t.Fatalf("a read of two values seen persistent sent %d PTTLs, want 0", n)
	}

	// Released and taken again by a stalled INICIAR: a new value with a TTL.
	e.srv.MustDo("DEL", "spool_lock:A")
	e.srv.MustDo("SET", "spool_lock:A", taken, "NX", "EX", "10")
	if l := read()["A"]; l.Value != taken || l.TTL <= 9*time.Second || l.TTL > 10*time.Second {
		t.Fatalf("after a re-take with EX 10: %+v, want the new value with its TTL", l)
	}
	// Still no PERSIST: still expiring (a value seen with a TTL is asked again).
	if l := read()["A"]; l.TTL <= 0 {
		t.Fatalf("second read of the expiring lock: %+v", l)
	}
	// The PERSIST comes late: persistent from then on.
	e.srv.MustDo("PERSIST", "spool_lock:A")
	if l := read()["A"]; l.TTL != 0 {
		t.Fatalf("after PERSIST: %+v", l)
	}
	// The old value is forgotten once no key holds it: set back by hand with a TTL, it is asked.
	e.srv.MustDo("SET", "spool_lock:A", old, "EX", "30")
	if l := read()["A"]; l.TTL <= 0 {
		t.Fatalf("an old value written back with a TTL read as %+v", l)
	}
	// A targeted read always asks the TTL.
	e.srv.MustDo("SET", "spool_lock:B", "5:u:13-05-2026 11:00:00", "EX", "30")
	locks, err := e.store.Locks(ctxT(t), []string{"B"})
	if err != nil || locks["B"].TTL <= 0 {
		t.Fatalf("targeted read of a value seen persistent, now with a TTL: %+v, %v", locks["B"], err)
	}
}
