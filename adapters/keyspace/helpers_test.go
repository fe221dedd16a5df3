package keyspace

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
)

const testPrefix = "spool_lock:"

// harness runs one Watcher against a real redis-server and records what it reports.
type harness struct {
	t      *testing.T
	srv    *redisserver.Server
	client *redis.Client
	w      *Watcher
	logs   *logbuffer.Buffer

	mu     sync.Mutex
	events []Event
	resubs int

	cancel context.CancelFunc
	done   chan error
}

func newClient(t *testing.T, srv *redisserver.Server, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DB: db, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// start runs a Watcher for client with opts (Prefix, Log and CheckInterval filled in if empty).
func start(t *testing.T, srv *redisserver.Server, client *redis.Client, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, srv: srv, client: client, logs: &logbuffer.Buffer{}, done: make(chan error, 1)}
	if opts.Prefix == "" {
		opts.Prefix = testPrefix
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = 200 * time.Millisecond
	}
	h.w = New(client, opts)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		h.done <- h.w.Run(ctx, func(e Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		}, func() {
			h.mu.Lock()
			h.resubs++
			h.mu.Unlock()
		})
	}()
	t.Cleanup(h.stop)
	return h
}

// stop cancels Run and fails if it does not return promptly.
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v, want nil after cancel", err)
		}
		h.done <- nil // let a second stop return at once
	case <-time.After(5 * time.Second):
		h.t.Errorf("Run did not return within 5s of cancel")
	}
}

func (h *harness) resubscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resubs
}

func (h *harness) snapshot() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

func (h *harness) has(kind Kind, tag string) bool {
	for _, e := range h.snapshot() {
		if e.Kind == kind && e.Tag == tag {
			return true
		}
	}
	return false
}

// waitEvent waits for an event of kind for tag.
func (h *harness) waitEvent(kind Kind, tag string, timeout time.Duration) {
	h.t.Helper()
	if !waitFor(timeout, func() bool { return h.has(kind, tag) }) {
		h.t.Fatalf("no %s event for %q within %v; got %v\nlogs:\n%s", kind, tag, timeout, h.snapshot(), h.logs)
	}
}

// waitActive waits until the watcher is subscribed with all needed flags.
func (h *harness) waitActive(timeout time.Duration) {
	h.t.Helper()
	if !waitFor(timeout, func() bool { return h.w.Status().Active }) {
		h.t.Fatalf("watcher not active within %v: %+v\nlogs:\n%s", timeout, h.w.Status(), h.logs)
	}
}

// sync sets a sentinel lock key and waits for its set event: notifications on one
// subscription arrive in order, so every earlier event has been delivered by then.
func (h *harness) sync(name string) {
	h.t.Helper()
	h.srv.MustDo("SET", testPrefix+name, "x")
	h.waitEvent(KindSet, name, 5*time.Second)
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	return redisserver.WaitFor(context.Background(), timeout, cond)
}

// serverFlags is the server's notify-keyspace-events, read over a raw connection.
func serverFlags(t *testing.T, srv *redisserver.Server) string {
	t.Helper()
	out := srv.MustDo("CONFIG", "GET", "notify-keyspace-events")
	_, v, _ := strings.Cut(out, "\n")
	return v
}

func assertFlags(t *testing.T, flags string, want string) {
	t.Helper()
	for i := 0; i < len(want); i++ {
		if !hasFlag(flags, want[i]) {
			t.Errorf("notify-keyspace-events %q lacks %q (want all of %q)", flags, want[i], want)
		}
	}
}
