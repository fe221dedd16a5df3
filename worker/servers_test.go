package worker

import (
	"context"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/tests/redisserver"
)

// blockingHandler counts the tasks started and running at once, and holds each until it
// receives from release (or release is closed).
type blockingHandler struct {
	started, running, peak atomic.Int32
	release                chan struct{}
}

func (h *blockingHandler) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	h.started.Add(1)
	n := h.running.Add(1)
	defer h.running.Add(-1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serverConcurrencies waits until the asynq servers registered in Redis (all of this process)
// have the given concurrencies, sorted; it returns what it saw last.
func serverConcurrencies(t *testing.T, insp *asynq.Inspector, want []int) ([]int, bool) {
	t.Helper()
	var got []int
	ok := redisserver.WaitFor(context.Background(), 5*time.Second, func() bool {
		infos, err := insp.Servers()
		if err != nil {
			return false
		}
		got = got[:0]
		for _, info := range infos {
			if info.PID != os.Getpid() {
				t.Errorf("server of pid %d, want this process %d", info.PID, os.Getpid())
			}
			got = append(got, info.Concurrency)
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	return got, ok
}

var testBoost = boostConfig{TaskCheckInterval: 10 * time.Millisecond, Idle: 300 * time.Millisecond}

// Idle, one server runs half the concurrency (rounded up); a kick starts the fast server with
// the rest, and it stops once the idle window has passed without another kick.
func TestTaskServersSplitConcurrencyWhileBoosted(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 30})
	t.Cleanup(func() { _ = rdb.Close() })
	insp := asynq.NewInspectorFromRedisClient(rdb)

	for _, tc := range []struct {
		concurrency   int
		idle, boosted []int // concurrency of each server, sorted
	}{{1, []int{1}, []int{1}}, {2, []int{1}, []int{1, 1}}, {5, []int{3}, []int{2, 3}}, {10, []int{5}, []int{5, 5}}} {
		servers, err := startTaskServers(rdb, asynq.Config{
			Concurrency: tc.concurrency, Queues: map[string]int{"q": 1}, LogLevel: asynq.FatalLevel,
			TaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second,
		}, &blockingHandler{release: make(chan struct{})}, testBoost)
		if err != nil {
			t.Fatalf("concurrency %d: %v", tc.concurrency, err)
		}
		if got, ok := serverConcurrencies(t, insp, tc.idle); !ok {
			t.Fatalf("WORKER_CONCURRENCY %d, idle: servers with concurrency %v, want %v", tc.concurrency, got, tc.idle)
		}
		servers.Kick()
		if got, ok := serverConcurrencies(t, insp, tc.boosted); !ok {
			t.Fatalf("WORKER_CONCURRENCY %d, boosted: servers with concurrency %v, want %v", tc.concurrency, got, tc.boosted)
		}
		if !redisserver.WaitFor(context.Background(), 5*time.Second, func() bool { return !servers.boosted() }) {
			t.Fatalf("WORKER_CONCURRENCY %d: the boost outlived its idle window", tc.concurrency)
		}
		if got, ok := serverConcurrencies(t, insp, tc.idle); !ok {
			t.Fatalf("WORKER_CONCURRENCY %d, after the boost: servers with concurrency %v, want %v", tc.concurrency, got, tc.idle)
		}
		servers.Shutdown()
		// asynq removes a server's record when it stops; wait so the next case sees only its own.
		redisserver.WaitFor(context.Background(), 5*time.Second, func() bool {
			infos, err := insp.Servers()
			return err == nil && len(infos) == 0
		})
	}
}

// The boost does not end while a task runs in the process (stopping the fast server would hand
// back a task that outlives its ShutdownTimeout); it ends once the task is done and the idle
// window has passed, and the task completes once.
func TestTaskServersBoostOutlivesRunningTasks(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 30})
	t.Cleanup(func() { _ = rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	h := &blockingHandler{release: make(chan struct{})}
	servers, err := startTaskServers(rdb, asynq.Config{
		Concurrency: 2, Queues: map[string]int{"q": 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: 100 * time.Millisecond,
	}, h, testBoost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(servers.Shutdown)
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q"), asynq.TaskID("held"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !redisserver.WaitFor(context.Background(), 5*time.Second, func() bool { return h.running.Load() == 1 }) {
		t.Fatal("the task did not start")
	}
	if !servers.boosted() {
		t.Fatal("a running task did not start the boost")
	}
	// Ten idle windows (300 ms each) with the task still running: the boost stays on.
	deadline := time.Now().Add(10 * testBoost.Idle)
	for time.Now().Before(deadline) {
		if !servers.boosted() {
			t.Fatal("the boost ended while a task was running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(h.release)
	if !redisserver.WaitFor(context.Background(), 5*time.Second, func() bool { return !servers.boosted() }) {
		t.Fatal("the boost did not end after the task finished")
	}
	info, err := insp.GetTaskInfo("q", "held")
	if err != nil || info.State != asynq.TaskStateCompleted || info.Retried != 0 {
		t.Fatalf("task after the boost ended: %+v, %v; want completed, never retried", info, err)
	}
}

func TestTaskServersRunTheTotalConcurrencyAtOnce(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 30})
	t.Cleanup(func() { _ = rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)

	h := &blockingHandler{release: make(chan struct{})}
	servers, err := startTaskServers(rdb, asynq.Config{
		Concurrency: 5, Queues: map[string]int{"q": 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: 3 * time.Second,
	}, h, boostConfig{TaskCheckInterval: 10 * time.Millisecond, Idle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	servers.Kick()
	for range 6 {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("q")); err != nil {
			t.Fatal(err)
		}
	}
	if !redisserver.WaitFor(context.Background(), 5*time.Second, func() bool { return h.running.Load() == 5 }) {
		t.Fatalf("%d tasks running, want 5 (the total concurrency, across both servers)", h.running.Load())
	}
	// The sixth starts only when a slot frees: let one task finish and wait for the sixth.
	// Had it started early, the peak would be 6.
	h.release <- struct{}{}
	if !redisserver.WaitFor(context.Background(), 5*time.Second, func() bool { return h.started.Load() == 6 && h.running.Load() == 5 }) {
		t.Fatalf("after one task finished: %d started, %d running; want 6 and 5", h.started.Load(), h.running.Load())
	}
	if p := h.peak.Load(); p != 5 {
		t.Fatalf("peak of %d tasks at once, want 5", p)
	}

	// Shutdown stops every server together: the five blocked tasks get one ShutdownTimeout
	// (3 s), not one per server (6 s), and are handed back.
	start := time.Now()
	servers.Shutdown()
	close(h.release)
	if took := time.Since(start); took >= 5500*time.Millisecond {
		t.Fatalf("shutdown took %s, want one ShutdownTimeout (3s), not one per server", took)
	}
	if n := h.running.Load(); n != 0 {
		t.Fatalf("%d handlers still running after shutdown", n)
	}
}
