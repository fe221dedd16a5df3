package redislock

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// fill writes key → value pairs with MSET in batches.
func fill(t *testing.T, c *redis.Client, kv map[string]string) {
	t.Helper()
	args := make([]any, 0, 2000)
	flush := func() {
		if len(args) > 0 {
			if err := c.MSet(ctxT(t), args...).Err(); err != nil {
				t.Fatal(err)
			}
			args = args[:0]
		}
	}
	for k, v := range kv {
		args = append(args, k, v)
		if len(args) == cap(args) {
			flush()
		}
	}
	flush()
}

func TestLocksOneRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	loc := santiago(t)
	base := time.Date(2026, 5, 13, 8, 0, 0, 0, loc)
	tags := make([]string, 0, 2500)
	present := map[string]jobs.Lock{}
	kv := map[string]string{}
	for i := range 2500 {
		tag := fmt.Sprintf("MK-%04d", i)
		tags = append(tags, tag)
		if i%5 < 2 { // 1,000 present
			at := base.Add(time.Duration(i) * time.Second)
			v := FormatValue(i%97+1, uuid.New(), at, loc)
			kv["spool_lock:"+tag] = v
			present[tag] = jobs.Lock{Value: v, WorkerID: i%97 + 1, At: at}
		}
	}
	fill(t, e.client, kv)
	// Noise: a lock key of another type, a garbage value, a tombstone, an unrelated key.
	e.srv.MustDo("HSET", "spool_lock:MK-0002", "a", "b") // i=2 is not among the present ones
	e.srv.MustDo("SET", "spool_lock:MK-0003", "garbage")
	present["MK-0003"] = jobs.Lock{Value: "garbage"}
	e.srv.MustDo("SET", TombstoneKey("MK-0004"), "1")
	e.srv.MustDo("SET", "MK-0004", "x")
	// Duplicates in the input are fine.
	tags = append(tags, "MK-0000", "MK-0001", "MK-0004")

	hook := &countingHook{}
	e.client.AddHook(hook)
	got, err := e.store.Locks(ctxT(t), tags)
	if err != nil {
		t.Fatal(err)
	}
	if hook.pipelines != 1 || hook.process != 0 {
		t.Fatalf("Locks made %d pipelines and %d single commands, want 1 pipeline only", hook.pipelines, hook.process)
	}
	cmds := hook.pipelineCmds[0]
	if len(cmds) != 3+2500 {
		t.Fatalf("pipeline has %d commands, want 3 MGETs and 2500 PTTLs", len(cmds))
	}
	keys, ttls := 0, 0
	for _, c := range cmds {
		switch {
		case c.Name() == "mget" && len(c.Args())-1 <= 1000:
			keys += len(c.Args()) - 1
		case c.Name() == "pttl":
			ttls++
		default:
			t.Fatalf("pipeline command %v", c.Args()[:2])
		}
	}
	if keys != 2500 || ttls != 2500 {
		t.Fatalf("MGETs asked %d keys and %d PTTLs, want 2500 of each (each tag once)", keys, ttls)
	}
	if len(got) != len(present) {
		t.Fatalf("got %d locks, want %d", len(got), len(present))
	}
	for tag, want := range present {
		l, ok := got[tag]
		if !ok || l.Value != want.Value || l.WorkerID != want.WorkerID || !l.At.Equal(want.At) {
			t.Fatalf("lock %s = %+v (present %v), want %+v", tag, l, ok, want)
		}
	}
}

func TestLocksEmptyAndNoneMakeNoMistakes(t *testing.T) {
	e := newEnv(t, Options{})
	hook := &countingHook{}
	e.client.AddHook(hook)
	got, err := e.store.Locks(ctxT(t), nil)
	if err != nil || len(got) != 0 || got == nil {
		t.Fatalf("Locks(nil) = %v, %v", got, err)
	}
	if hook.pipelines+hook.process != 0 {
		t.Fatal("Locks(nil) talked to Redis")
	}
	got, err = e.store.Locks(ctxT(t), []string{"A", "B"})
	if err != nil || len(got) != 0 {
		t.Fatalf("Locks on empty Redis = %v, %v", got, err)
	}
}

func TestLocksError(t *testing.T) {
	e := newEnv(t, Options{})
	if _, err := e.downStore(t).Locks(ctxT(t), []string{"A"}); err == nil {
		t.Fatal("Locks with Redis down: no error")
	}
}

func TestAllLocksGlobPrefix(t *testing.T) {
	e := newEnv(t, Options{Prefix: "spool*lock:"})
	loc := santiago(t)
	nKeys := scanCount * 5 / 2 // the cursor must be followed over several steps
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, loc)
	kv := map[string]string{}
	for i := range nKeys {
		kv[fmt.Sprintf("spool*lock:T-%05d", i)] = FormatValue(i+1, uuid.New(), at, loc)
	}
	fill(t, e.client, kv)
	// Keys that an unescaped `spool*lock:*` would match, and other unrelated keys.
	for _, k := range []string{"spoolXlock:A", "spool_lock:B", "spool-other-lock:C", "spool*lock", "other", TombstoneKey("T-00001")} {
		e.srv.MustDo("SET", k, "7:x:13-05-2026 11:33:48")
	}
	hook := &countingHook{}
	e.client.AddHook(hook)
	got, err := e.store.AllLocks(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	scans := 0
	for _, c := range hook.cmds {
		if c.Name() == "scan" {
			scans++
			if args := fmt.Sprint(c.Args()[2:]); args != fmt.Sprintf(`[match spool\*lock:* count %d]`, scanCount) {
				t.Fatalf("SCAN arguments %s", args)
			}
		}
	}
	// The first full read asks every TTL: one pipeline of MGETs, one of PTTLs.
	if scans < 3 || hook.pipelines != 2 {
		t.Fatalf("%d SCAN steps and %d pipelines, want at least 3 and 2", scans, hook.pipelines)
	}
	if len(got) != nKeys {
		t.Fatalf("AllLocks returned %d locks, want %d", len(got), nKeys)
	}
	// The next one knows the values persistent: the MGETs only, and the same locks.
	hook.pipelines = 0
	again, err := e.store.AllLocks(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if hook.pipelines != 1 || len(again) != nKeys || again["T-00007"] != got["T-00007"] {
		t.Fatalf("second full read: %d pipelines, %d locks (T-00007 %+v, was %+v)", hook.pipelines, len(again), again["T-00007"], got["T-00007"])
	}
	for i := range nKeys {
		tag := fmt.Sprintf("T-%05d", i)
		l, ok := got[tag]
		if !ok || l.Value != kv["spool*lock:"+tag] || l.WorkerID != i+1 || !l.At.Equal(at) {
			t.Fatalf("lock %s = %+v (present %v)", tag, l, ok)
		}
	}
}

func TestAllLocksEscapesEveryGlobChar(t *testing.T) {
	prefix := `a?[b]\c*:`
	e := newEnv(t, Options{Prefix: prefix})
	e.srv.MustDo("SET", prefix+"T1", "1:u:13-05-2026 11:33:48")
	e.srv.MustDo("HSET", prefix+"T2", "f", "v") // not a string: absent
	for _, k := range []string{`aX[b]\c*:T3`, `a?b\c*:T4`, `a?[b]c*:T5`, `a?[b]\cZ:T6`, "ab]c:T7"} {
		e.srv.MustDo("SET", k, "2:u:13-05-2026 11:33:48")
	}
	got, err := e.store.AllLocks(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["T1"].WorkerID != 1 {
		t.Fatalf("AllLocks = %+v, want only T1", got)
	}
}

func TestAllLocksDefaultPrefixEmpty(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.MustDo("SET", "unrelated", "1:u:13-05-2026 11:33:48")
	got, err := e.store.AllLocks(ctxT(t))
	if err != nil || len(got) != 0 || got == nil {
		t.Fatalf("AllLocks = %v, %v", got, err)
	}
}

func TestAllLocksHonoursContext(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.MustDo("SET", "spool_lock:A", "1:u:13-05-2026 11:33:48")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.store.AllLocks(ctx)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("AllLocks with a cancelled context: err = %v", err)
	}
}
