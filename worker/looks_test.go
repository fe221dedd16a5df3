package worker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
)

// runRecorder records the reconciles that ran: trigger → spools, and when.
type runRecorder struct {
	mu   sync.Mutex
	runs []recordedRun
}

type recordedRun struct {
	at      time.Time
	trigger string
	spools  []string
}

func (r *runRecorder) ProcessTask(_ context.Context, t *asynq.Task) error {
	p, err := jobs.DecodeReconcilePayload(t.Payload())
	if err != nil {
		return err
	}
	s := slices.Clone(p.Spools)
	sort.Strings(s)
	r.mu.Lock()
	r.runs = append(r.runs, recordedRun{time.Now(), p.Trigger, s})
	r.mu.Unlock()
	return nil
}

func (r *runRecorder) get() []recordedRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs)
}

// TestDelayedLooksAreScheduledTasks: a delayed look is a look:due task scheduled for its
// second in Redis (not a timer); the same look asked for twice is one task (TaskID of trigger,
// due second and sorted tags); looks due together are aggregated into one reconcile per
// trigger when they come due, and not before; a look already due is queued at once.
func TestDelayedLooksAreScheduledTasks(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 16})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(&logbuffer.Buffer{}, nil))
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	triggers := &Triggers{log: log, tasks: jobs.DefaultTasks, client: client}

	// Half past a second at least 2 s ahead, so at and at-100ms fall in the same second.
	at := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(1500 * time.Millisecond)
	due := jobs.LookDue(at)
	for _, look := range []struct {
		trigger string
		at      time.Time
		tags    []string
	}{
		{jobs.TriggerVerify, at, []string{"B", "A"}},
		{jobs.TriggerVerify, at.Add(-100 * time.Millisecond), []string{"A", "B", "A"}}, // the same second
		{jobs.TriggerVerify, at, []string{"C"}},
		{jobs.TriggerOrphan, at, []string{"A"}},
	} {
		if err := triggers.TriggerTagsAt(ctx, look.trigger, look.at, look.tags...); err != nil {
			t.Fatalf("TriggerTagsAt(%s, %v): %v", look.trigger, look.tags, err)
		}
	}
	scheduled, err := insp.ListScheduledTasks(jobs.QueueReconcile)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range scheduled {
		ids = append(ids, ti.ID)
		if ti.Type != jobs.TypeLook || !ti.NextProcessAt.Equal(due) || ti.Timeout != jobs.DefaultTasks.RestoreDeadline || ti.MaxRetry != 5 {
			t.Errorf("look %s: type %s at %v timeout %v retries %d; want %s at %v", ti.ID, ti.Type, ti.NextProcessAt, ti.Timeout, ti.MaxRetry, jobs.TypeLook, due)
		}
	}
	sort.Strings(ids)
	want := []string{
		jobs.LookTaskID(jobs.TriggerVerify, due, []string{"A", "B"}),
		jobs.LookTaskID(jobs.TriggerVerify, due, []string{"C"}),
		jobs.LookTaskID(jobs.TriggerOrphan, due, []string{"A"}),
	}
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("scheduled looks %q, want %q", ids, want)
	}

	rec := &runRecorder{}
	mux := asynq.NewServeMux()
	mux.Handle(jobs.TypeReconcile, rec)
	mux.HandleFunc(jobs.TypeLook, triggers.ProcessLook)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 2, Queues: jobs.Queues, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond, ShutdownTimeout: time.Second,
		GroupAggregator: asynq.GroupAggregatorFunc(triggers.Aggregate), GroupGracePeriod: time.Second, GroupMaxDelay: 2 * time.Second,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if !redisserver.WaitFor(ctx, 15*time.Second, func() bool { return len(rec.get()) >= 2 }) {
		t.Fatalf("reconciles after the looks came due: %+v", rec.get())
	}
	time.Sleep(1500 * time.Millisecond) // nothing more may come
	runs := rec.get()
	got := map[string]string{}
	for _, r := range runs {
		if r.at.Before(due) {
			t.Errorf("a %s reconcile ran at %v, before the looks were due (%v)", r.trigger, r.at, due)
		}
		got[r.trigger] = strings.Join(r.spools, ",")
	}
	if len(runs) != 2 || got[jobs.TriggerVerify] != "A,B,C" || got[jobs.TriggerOrphan] != "A" {
		t.Fatalf("reconciles %+v, want one verify of A,B,C and one orphan of A", runs)
	}

	// A look already due is queued at once (into its group), not scheduled.
	if err := triggers.TriggerTagsAt(ctx, jobs.TriggerKeyspace, time.Now().Add(-time.Second), "D"); err != nil {
		t.Fatal(err)
	}
	if !redisserver.WaitFor(ctx, 10*time.Second, func() bool { return len(rec.get()) == 3 }) {
		t.Fatalf("a look already due did not run: %+v", rec.get())
	}
	if r := rec.get()[2]; r.trigger != jobs.TriggerKeyspace || strings.Join(r.spools, ",") != "D" {
		t.Fatalf("run %+v, want keyspace of D", r)
	}
}

// TestProcessLookBadPayload: an unreadable look is not retried; a look without tags does
// nothing.
func TestProcessLookBadPayload(t *testing.T) {
	triggers := &Triggers{log: slog.New(slog.DiscardHandler), tasks: jobs.DefaultTasks}
	err := triggers.ProcessLook(context.Background(), asynq.NewTask(jobs.TypeLook, []byte("{")))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("bad payload: %v, want SkipRetry", err)
	}
	if err := triggers.ProcessLook(context.Background(), asynq.NewTask(jobs.TypeLook, []byte(`{"trigger":"verify","spools":[]}`))); err != nil {
		t.Errorf("empty look: %v", err)
	}
}
