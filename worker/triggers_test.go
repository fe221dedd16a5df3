package worker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
)

// gatedSheet is the static sheet, held at each read until the test lets it go, so a test can
// act while a reconcile is in the middle of its run.
type gatedSheet struct {
	sheet   jobs.SheetReader
	reads   atomic.Int32
	reading chan struct{} // one send per read that started
	release chan struct{} // one receive per read let go
}

func (g *gatedSheet) Read(ctx context.Context) (jobs.Snapshot, error) {
	g.reads.Add(1)
	g.reading <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return jobs.Snapshot{}, ctx.Err()
	}
	return g.sheet.Read(ctx)
}

// TestPendingMarkCoalescesFullReconciles: automatic full triggers that arrive while one full
// reconcile is queued and not started are covered by it (one task); a trigger during the run
// queues exactly one follow-up, however many arrive; and the follow-up runs.
func TestPendingMarkCoalescesFullReconciles(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 16})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(&logbuffer.Buffer{}, nil))
	store := redislock.New(rdb, redislock.Options{Location: santiago})
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	triggers := &Triggers{log: log, tasks: jobs.DefaultTasks, client: client, marks: store}

	waiting := func() int { // reconciles queued and not started
		info, err := insp.GetQueueInfo(jobs.QueueReconcile)
		if err != nil {
			return -1
		}
		return info.Pending
	}

	// Queued, not started: every later trigger is covered by the first.
	for _, trig := range []string{jobs.TriggerRedisBack, jobs.TriggerRedisRestart, jobs.TriggerRedisBack} {
		if err := triggers.Full(ctx, trig); err != nil {
			t.Fatalf("trigger %s: %v", trig, err)
		}
	}
	if n := waiting(); n != 1 {
		t.Fatalf("%d full reconciles queued after three triggers before any started, want 1", n)
	}
	if v := rds.MustDo("GET", redislock.PendingKey); v != jobs.TriggerRedisBack {
		t.Fatalf("pending mark %q, want the first trigger %q", v, jobs.TriggerRedisBack)
	}

	// The run starts (and clears the mark) and holds at its sheet read.
	grid, _ := testSheet(time.Now())
	sheet := &gatedSheet{sheet: sheets.NewStatic(grid, santiago), reading: make(chan struct{}, 4), release: make(chan struct{}, 4)}
	reconciler := &jobs.Reconciler{
		Sheet: sheet, Locks: store, Runs: store, Queue: queue{client, insp, store},
		Rules: jobs.DefaultRules, Tasks: jobs.DefaultTasks, Log: log, Pending: triggers,
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{jobs.QueueReconcile: 1}, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second,
	})
	if err := srv.Start(reconciler); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	select {
	case <-sheet.reading:
	case <-ctx.Done():
		t.Fatal("the queued reconcile did not start")
	}
	if n := waiting(); n != 0 {
		t.Fatalf("%d reconciles queued while the first runs, want 0", n)
	}

	// Triggers during the run: exactly one follow-up.
	for range 3 {
		if err := triggers.Full(ctx, jobs.TriggerRedisBack); err != nil {
			t.Fatal(err)
		}
	}
	if n := waiting(); n != 1 {
		t.Fatalf("%d follow-ups queued by three triggers during a run, want exactly 1", n)
	}

	// The follow-up runs after the first, and then nothing is left.
	sheet.release <- struct{}{}
	select {
	case <-sheet.reading:
	case <-ctx.Done():
		t.Fatal("the follow-up reconcile did not start")
	}
	sheet.release <- struct{}{}
	if !redisserver.WaitFor(ctx, 20*time.Second, func() bool {
		info, err := insp.GetQueueInfo(jobs.QueueReconcile)
		return err == nil && info.Pending == 0 && info.Active == 0 && info.Scheduled == 0 && info.Retry == 0
	}) {
		t.Fatal("the reconcile queue did not drain after the follow-up")
	}
	if n := sheet.reads.Load(); n != 2 {
		t.Fatalf("%d sheet reads, want 2 (the first run and one follow-up)", n)
	}
	if v := rds.MustDo("EXISTS", redislock.PendingKey); v != "0" {
		t.Fatalf("pending mark left after both runs started (EXISTS %s)", v)
	}
}
