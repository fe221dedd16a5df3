package keyspace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
)

func TestConfigureEnablesFlags(t *testing.T) {
	srv := redisserver.Start(t)
	if got := serverFlags(t, srv); got != "" {
		t.Fatalf("server starts with notify-keyspace-events %q, want empty", got)
	}
	h := start(t, srv, newClient(t, srv, 0), Options{Mode: ModeConfigure})
	h.waitActive(5 * time.Second)
	assertFlags(t, serverFlags(t, srv), neededFlags)
	if !strings.Contains(h.logs.String(), "enabled keyspace notifications") {
		t.Errorf("configure mode did not log what it set:\n%s", h.logs)
	}
	if n := h.resubscriptions(); n != 0 {
		t.Errorf("first subscription with flags set beforehand: onResubscribed called %d times, want 0", n)
	}
}

func TestConfigureKeepsExistingFlags(t *testing.T) {
	srv := redisserver.Start(t, "--notify-keyspace-events", "El")
	h := start(t, srv, newClient(t, srv, 0), Options{Mode: ModeConfigure})
	h.waitActive(5 * time.Second)
	assertFlags(t, serverFlags(t, srv), "ElKgxe$")
}

func TestEventsForLockKeys(t *testing.T) {
	srv := redisserver.Start(t)
	h := start(t, srv, newClient(t, srv, 0), Options{Mode: ModeConfigure})
	h.waitActive(5 * time.Second)

	srv.MustDo("SET", testPrefix+"A", "93:u:01-01-2026 10:00:00")
	srv.MustDo("DEL", testPrefix+"A")
	srv.MustDo("SET", testPrefix+"B:1:2", "v")        // a tag with colons
	srv.MustDo("PEXPIRE", testPrefix+"B:1:2", "1")    // expires at once
	srv.MustDo("SET", testPrefix+"C", "v", "EX", "1") // expires in 1s
	srv.MustDo("SET", testPrefix+"D", "v", "EX", "100")
	// Outside the prefix: nothing.
	srv.MustDo("SET", "other:x", "v")
	srv.MustDo("DEL", "other:x")
	srv.MustDo("SET", "spool_lockX", "v")
	srv.MustDo("SET", "spool_lock", "v")
	srv.MustDo("SET", testPrefix, "v") // empty tag

	h.waitEvent(KindExpired, "B:1:2", 5*time.Second)
	h.waitEvent(KindExpired, "C", 5*time.Second)
	h.sync("sentinel")

	got := map[string][]Kind{}
	for _, e := range h.snapshot() {
		if e.Key != testPrefix+e.Tag || e.At.IsZero() {
			t.Errorf("event %+v: key must be prefix+tag and At set", e)
		}
		got[e.Tag] = append(got[e.Tag], e.Kind)
	}
	want := map[string][]Kind{
		"A":        {KindSet, KindDel},
		"B:1:2":    {KindSet, KindExpired},
		"C":        {KindSet, KindExpired},
		"D":        {KindSet}, // SET … EX also emits "expire", which is ignored
		"sentinel": {KindSet},
	}
	if len(got) != len(want) {
		t.Errorf("events by tag = %v, want %v", got, want)
	}
	for tag, kinds := range want {
		if !slices.Equal(got[tag], kinds) {
			t.Errorf("events for %q = %v, want %v", tag, got[tag], kinds)
		}
	}
	if st := h.w.Status(); st.Events != uint64(len(h.snapshot())) || !st.Active || st.Flags == "" {
		t.Errorf("status %+v after %d events", st, len(h.snapshot()))
	}
}

func TestPrefixGlobAndDatabase(t *testing.T) {
	srv := redisserver.Start(t, "--notify-keyspace-events", "KA")
	h := start(t, srv, newClient(t, srv, 2), Options{Mode: ModeAuto, Prefix: "l?ck:"})
	h.waitActive(5 * time.Second)
	if got := h.w.Status().Pattern; got != `__keyspace@2__:l\?ck:*` {
		t.Errorf("pattern = %q", got)
	}
	// Raw Do connections use db 0: the right prefix there is another database's key.
	srv.MustDo("SET", "l?ck:db0", "v")
	c := newClient(t, srv, 2)
	ctx := context.Background()
	if err := c.Set(ctx, "lock:y", "v", 0).Err(); err != nil { // "?" is literal: outside the prefix
		t.Fatal(err)
	}
	if err := c.Set(ctx, "l?ck:T", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(KindSet, "T", 5*time.Second)
	if evs := h.snapshot(); len(evs) != 1 {
		t.Errorf("events = %+v, want only the set of l?ck:T in db 2", evs)
	}
}

func TestEvictedEvents(t *testing.T) {
	srv := redisserver.Start(t, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-random")
	client := newClient(t, srv, 0)
	h := start(t, srv, client, Options{Mode: ModeConfigure})
	h.waitActive(5 * time.Second)

	ctx := context.Background()
	value := strings.Repeat("v", 4096)
	for batch := 0; batch < 50 && evictedKeys(t, srv) == 0; batch++ {
		pipe := client.Pipeline()
		for i := 0; i < 100; i++ {
			pipe.Set(ctx, fmt.Sprintf("%sfill-%d-%d", testPrefix, batch, i), value, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && !strings.Contains(err.Error(), "OOM") {
			t.Fatal(err)
		}
	}
	if evictedKeys(t, srv) == 0 {
		t.Fatal("no evictions after filling 20MB into a 2MB server")
	}
	if !waitFor(10*time.Second, func() bool {
		for _, e := range h.snapshot() {
			if e.Kind == KindEvicted && strings.HasPrefix(e.Tag, "fill-") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no evicted event (server evicted %d keys)", evictedKeys(t, srv))
	}
}

func evictedKeys(t *testing.T, srv *redisserver.Server) int {
	t.Helper()
	for _, line := range strings.Split(srv.MustDo("INFO", "stats"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "evicted_keys:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func TestAutoModeReportsMissingFlagsAndChangesNothing(t *testing.T) {
	srv := redisserver.Start(t)
	h := start(t, srv, newClient(t, srv, 0), Options{Mode: ModeAuto})
	if !waitFor(5*time.Second, func() bool { return h.w.Status().Subscribed }) {
		t.Fatalf("not subscribed: %+v\n%s", h.w.Status(), h.logs)
	}
	st := h.w.Status()
	if st.Active || !st.FlagsKnown || st.MissingFlags != neededFlags || !slices.Equal(st.Missing, Kinds) {
		t.Errorf("status with notifications off = %+v", st)
	}
	logs := h.logs.String()
	for _, want := range []string{"keyspace notifications incomplete", "missing=Kgxe$", "schedule", "KEYSPACE_EVENTS=configure"} {
		if !strings.Contains(logs, want) {
			t.Errorf("auto-mode log lacks %q:\n%s", want, logs)
		}
	}
	time.Sleep(500 * time.Millisecond) // a few periodic checks
	if got := serverFlags(t, srv); got != "" {
		t.Errorf("auto mode changed notify-keyspace-events to %q", got)
	}
	srv.MustDo("SET", testPrefix+"A", "v")

	// An operator enables part of the flags: the log says what is still missing and its cost.
	srv.MustDo("CONFIG", "SET", "notify-keyspace-events", "Kgx")
	if !waitFor(5*time.Second, func() bool { return h.w.Status().MissingFlags == "e$" }) {
		t.Fatalf("status after enabling Kgx: %+v", h.w.Status())
	}
	if logs := h.logs.String(); !strings.Contains(logs, "missing=e$") || !strings.Contains(logs, "no evicted events") {
		t.Errorf("log does not explain the missing e and $:\n%s", logs)
	}
	// Then all of them: events may have been missed until now, so onResubscribed fires once.
	srv.MustDo("CONFIG", "SET", "notify-keyspace-events", "KA")
	h.waitActive(5 * time.Second)
	if !waitFor(2*time.Second, func() bool { return h.resubscriptions() == 1 }) {
		t.Errorf("flags became active: onResubscribed called %d times, want 1", h.resubscriptions())
	}
	h.sync("after")
	if h.has(KindSet, "A") {
		t.Error("an event arrived while the server had notifications off")
	}
}

func TestConfigRefused(t *testing.T) {
	for _, mode := range []Mode{ModeAuto, ModeConfigure} {
		t.Run(string(mode), func(t *testing.T) {
			srv := redisserver.Start(t, "--notify-keyspace-events", "KA", "--rename-command", "CONFIG", "")
			if _, err := srv.Do("CONFIG", "GET", "notify-keyspace-events"); err == nil {
				t.Fatal("CONFIG still works: the server was not started with it disabled")
			}
			h := start(t, srv, newClient(t, srv, 0), Options{Mode: mode})
			h.waitActive(5 * time.Second) // unknown flags count as present
			st := h.w.Status()
			if st.FlagsKnown || !strings.Contains(st.LastError, "unknown command") {
				t.Errorf("status = %+v", st)
			}
			want := "flags unknown"
			if mode == ModeConfigure {
				want = "the worker relies on RECONCILE_SCHEDULE"
			}
			if logs := h.logs.String(); !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
			h.sync("still-works")
		})
	}
}

func TestOffModeReturnsAtOnce(t *testing.T) {
	logs := &logbuffer.Buffer{}
	w := New(nil, Options{Prefix: testPrefix, Mode: ModeOff, Log: slog.New(slog.NewTextHandler(logs, nil))})
	done := make(chan error, 1)
	go func() {
		done <- w.Run(context.Background(), func(Event) { t.Error("event in off mode") }, nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run in off mode = %v, want nil", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run in off mode did not return")
	}
	if !strings.Contains(logs.String(), "keyspace events are off") {
		t.Errorf("off mode not logged:\n%s", logs)
	}
}

func TestBadOptions(t *testing.T) {
	srv := redisserver.Start(t)
	for name, opts := range map[string]Options{
		"no prefix": {Mode: ModeAuto},
		"bad mode":  {Prefix: testPrefix, Mode: "sometimes"},
	} {
		if err := New(newClient(t, srv, 0), opts).Run(context.Background(), nil, nil); err == nil {
			t.Errorf("%s: Run returned nil", name)
		}
	}
}

func TestRestartReappliesFlags(t *testing.T) {
	srv := redisserver.Start(t)
	h := start(t, srv, newClient(t, srv, 0), Options{Mode: ModeConfigure})
	h.waitActive(5 * time.Second)
	h.sync("before")

	srv.Restart() // back empty, notifications off
	if !waitFor(15*time.Second, func() bool { return h.resubscriptions() >= 1 && h.w.Status().Active }) {
		t.Fatalf("after restart: resubscriptions=%d status=%+v\n%s", h.resubscriptions(), h.w.Status(), h.logs)
	}
	assertFlags(t, serverFlags(t, srv), neededFlags)
	h.sync("after")
	srv.MustDo("DEL", testPrefix+"after")
	h.waitEvent(KindDel, "after", 5*time.Second)
}

func TestRedisDownAtStart(t *testing.T) {
	srv := redisserver.Start(t)
	srv.Kill()
	h := start(t, srv, newClient(t, srv, 0), Options{Mode: ModeConfigure})
	time.Sleep(700 * time.Millisecond)
	if st := h.w.Status(); st.Active || st.Reachable || st.LastError == "" {
		t.Errorf("status while Redis is down = %+v", st)
	}
	srv.Restart()
	h.waitActive(10 * time.Second)
	h.sync("up")
	if n := h.resubscriptions(); n != 0 {
		t.Errorf("first subscription ever: onResubscribed called %d times, want 0", n)
	}
	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	h.stop() // returns promptly even while Redis is down
}

// TestStalledSubscriptionIsReported: a subscribed watcher whose server stops answering
// (SIGSTOP: the connection stays open, nothing comes back) tells OnUnreachable, with when the
// unanswered check was sent, and keeps its own notes at debug.
func TestStalledSubscriptionIsReported(t *testing.T) {
	srv := redisserver.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, ReadTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	var mu sync.Mutex
	var sent []time.Time
	h := start(t, srv, client, Options{Mode: ModeConfigure, OnUnreachable: func(at time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, at)
	}})
	h.waitActive(5 * time.Second)
	stopped := time.Now()
	srv.Stop()
	t.Cleanup(srv.Continue) // before the Kill cleanup registered by Start
	reported := waitFor(10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) > 0
	})
	srv.Continue()
	if !reported {
		t.Fatalf("OnUnreachable not called within 10s of SIGSTOP\n%s", h.logs)
	}
	mu.Lock()
	first := sent[0]
	mu.Unlock()
	if first.Before(stopped.Add(-time.Second)) || first.After(time.Now()) {
		t.Errorf("the unanswered check was sent at %v, the server stopped at %v", first, stopped)
	}
	if strings.Contains(h.logs.String(), "level=WARN msg=\"redis unreachable") {
		t.Errorf("the watcher warned about the outage itself while OnUnreachable tells it:\n%s", h.logs)
	}
}
