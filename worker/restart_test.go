package worker

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/tests/redisserver"
)

// infoCounter counts the INFO commands a client sends.
type infoCounter struct{ n atomic.Int64 }

func (c *infoCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *infoCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "info" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *infoCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// The restart watcher's plain ticks read the sentinel alone (one command): the run_id is read
// on the first check, on a full check (kicked: a new connection, the drop watch, Redis back,
// and every fullCheckEvery ticks), and whenever the sentinel is not what this watcher last saw,
// so a flush (sentinel gone) is still caught by a plain tick.
func TestRestartCheckReadsRunIDOnlyWhenNeeded(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	infos := &infoCounter{}
	rdb.AddHook(infos)
	store := redislock.New(rdb, redislock.Options{})
	r := newRestartWatcher(&Worker{rdb: rdb}, store)
	ctx := context.Background()

	check := func(full bool, wantReason bool, wantInfos int64) {
		t.Helper()
		before := infos.n.Load()
		reason, err := r.check(ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		if (reason != "") != wantReason {
			t.Fatalf("check(full=%v): reason %q, want a reason: %v", full, reason, wantReason)
		}
		if got := infos.n.Load() - before; got != wantInfos {
			t.Fatalf("check(full=%v): %d INFO, want %d", full, got, wantInfos)
		}
	}
	check(false, false, 1) // the first check is always full: it writes the sentinel
	if got := rds.MustDo("GET", redislock.SentinelKey); got == "" {
		t.Fatal("the first check wrote no sentinel")
	}
	check(false, false, 0) // a plain tick: the sentinel alone
	check(true, false, 1)  // kicked
	check(false, false, 0)

	rds.MustDo("FLUSHALL") // no connection drops: only the sentinel shows it
	check(false, true, 1)
	check(false, false, 0) // rewritten

	// Not what this watcher wrote: checked against the run_id (as a full check would) and
	// rewritten; the server's run_id is the one this watcher knows, so no restart.
	runID := rds.MustDo("GET", redislock.SentinelKey)
	rds.MustDo("SET", redislock.SentinelKey, "another-run-id")
	check(false, false, 1)
	if got := rds.MustDo("GET", redislock.SentinelKey); got != runID {
		t.Fatalf("sentinel %q after the check, want %q", got, runID)
	}
	check(false, false, 0)
}
