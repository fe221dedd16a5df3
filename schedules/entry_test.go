package schedules

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
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

// quietAsynq discards asynq's own log lines.
type quietAsynq struct{}

func (quietAsynq) Debug(...any) {}
func (quietAsynq) Info(...any)  {}
func (quietAsynq) Warn(...any)  {}
func (quietAsynq) Error(...any) {}
func (quietAsynq) Fatal(...any) {}

func newClient(t *testing.T, srv *redisserver.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The claim the package rests on, checked against asynq itself: PreEnqueueFunc receives the
// slice given to Register (same backing array), and replacing an element changes what that
// tick enqueues. The heartbeat is pushed out of the way: this bare hook has no fence.
func TestPreEnqueueSeesRegisteredOptions(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := newClient(t, srv)
	registered := []asynq.Option{asynq.TaskID("frozen"), asynq.Queue("q")}

	var mu sync.Mutex
	var sameArray []bool
	var ids []string
	n := 0
	sched := asynq.NewSchedulerFromRedisClient(rdb, &asynq.SchedulerOpts{
		Logger: quietAsynq{}, HeartbeatInterval: time.Hour,
		PreEnqueueFunc: func(_ *asynq.Task, opts []asynq.Option) {
			mu.Lock()
			defer mu.Unlock()
			n++
			sameArray = append(sameArray, &opts[0] == &registered[0])
			opts[0] = asynq.TaskID("tick-" + strconv.Itoa(n))
		},
		PostEnqueueFunc: func(info *asynq.TaskInfo, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ids = append(ids, "error: "+err.Error())
				return
			}
			ids = append(ids, info.ID)
		},
	})
	if _, err := sched.Register("@every 1s", asynq.NewTask("probe", nil), registered...); err != nil {
		t.Fatal(err)
	}
	if err := sched.Start(); err != nil {
		t.Fatal(err)
	}
	ticked := redisserver.WaitFor(context.Background(), 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return n >= 2 && len(ids) >= 2
	})
	sched.Shutdown()

	mu.Lock()
	defer mu.Unlock()
	if !ticked {
		t.Fatalf("%d ticks of @every 1s in 15s, want 2", n)
	}
	if slices.Contains(sameArray, false) {
		t.Errorf("PreEnqueueFunc got a copy of the registered options: %v", sameArray)
	}
	for i, id := range ids {
		if want := "tick-" + strconv.Itoa(i+1); id != want {
			t.Errorf("tick %d enqueued %q, want %q: the in-place rewrite did not reach Enqueue", i+1, id, want)
		}
	}
	if got := registered[0].Value(); got != "tick-"+strconv.Itoa(n) {
		t.Errorf("registered slice holds %v after the run: not the slice asynq used", got)
	}
}

// replica is one worker process's scheduler plus what its PostEnqueueFunc saw.
type replica struct {
	sched *asynq.Scheduler
	logs  *logbuffer.Buffer

	mu        sync.Mutex
	queued    []string
	conflicts int
	failures  []error
}

func startReplica(t *testing.T, rdb *redis.Client, spec *Spec, deadline time.Duration) *replica {
	t.Helper()
	r := &replica{logs: &logbuffer.Buffer{}}
	entry := NewEntry(spec, slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	opts := &asynq.SchedulerOpts{
		Logger: quietAsynq{},
		// A beat every second: the heartbeat reads the options while ticks rewrite them, so
		// -race checks the fences.
		HeartbeatInterval: time.Second,
		PostEnqueueFunc: func(info *asynq.TaskInfo, err error) { // chained after the entry's
			r.mu.Lock()
			defer r.mu.Unlock()
			switch {
			case err == nil:
				r.queued = append(r.queued, info.ID)
			case errors.Is(err, asynq.ErrTaskIDConflict):
				r.conflicts++
			default:
				r.failures = append(r.failures, err)
			}
		},
	}
	entry.Install(opts)
	r.sched = asynq.NewSchedulerFromRedisClient(rdb, opts)
	if _, err := entry.Register(r.sched, scheduleTask(t, deadline)); err != nil {
		t.Fatal(err)
	}
	if err := r.sched.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// attempts is how many ticks the replica fired (queued, conflicted or failed).
func (r *replica) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queued) + r.conflicts + len(r.failures)
}

func TestTwoReplicasQueueOneReconcilePerTick(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := newClient(t, srv)
	spec, err := Parse("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	const deadline = 10 * time.Second
	a := startReplica(t, rdb, spec, deadline)
	b := startReplica(t, rdb, spec, deadline)
	// Four ticks each, and asynqmon's view written by the heartbeat (which read the options
	// through the fences) after a tick.
	insp := asynq.NewInspectorFromRedisClient(rdb)
	var entries []*asynq.SchedulerEntry
	if !redisserver.WaitFor(context.Background(), 30*time.Second, func() bool {
		entries, err = insp.SchedulerEntries()
		ticked := err == nil && a.attempts() >= 4 && b.attempts() >= 4
		for _, e := range entries {
			ticked = ticked && !e.Prev.IsZero()
		}
		return ticked
	}) {
		t.Fatalf("replicas tried %d and %d ticks of @every 1s in 30s, want 4 each (entries %d, %v)", a.attempts(), b.attempts(), len(entries), err)
	}
	if len(entries) != 2 {
		t.Errorf("scheduler entries = %d, want 2 (one per replica)", len(entries))
	}
	for _, e := range entries {
		if e.Spec != "@every 1s" || e.Task.Type() != jobs.TypeReconcile || e.Prev.IsZero() {
			t.Errorf("scheduler entry %q %s prev %v", e.Spec, e.Task.Type(), e.Prev)
		}
	}

	a.sched.Shutdown()
	b.sched.Shutdown()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Shutdown closed the shared redis client: %v", err)
	}

	tasks, err := insp.ListPendingTasks(jobs.QueueReconcile)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range tasks {
		ids = append(ids, ti.ID)
		if !strings.HasPrefix(ti.ID, SlotPrefix) || ti.ID == placeholderID {
			t.Errorf("task ID %q is not a slot ID", ti.ID)
		}
		if ti.Type != jobs.TypeReconcile || ti.Timeout != deadline || !ti.Deadline.IsZero() {
			t.Errorf("task %s: type %s timeout %v deadline %v; want %s, %v, none", ti.ID, ti.Type, ti.Timeout, ti.Deadline, jobs.TypeReconcile, deadline)
		}
		var p jobs.ReconcilePayload
		if err := json.Unmarshal(ti.Payload, &p); err != nil || p.Trigger != jobs.TriggerSchedule || len(p.Spools) != 0 {
			t.Errorf("task %s payload %s (%v)", ti.ID, ti.Payload, err)
		}
	}
	// One task per tick: about as many as the replica that fired most tried (the replicas
	// start and stop a moment apart, so either may have fired a tick the other did not).
	ticks := max(a.attempts(), b.attempts())
	if len(tasks) < ticks-1 || len(tasks) > ticks+1 {
		t.Errorf("%d reconcile tasks for %d ticks, want one per tick: %v", len(tasks), ticks, ids)
	}

	// Each replica tried every tick; per slot exactly one enqueue won and the other conflicted.
	var queued []string
	conflicts := 0
	for _, r := range []*replica{a, b} {
		r.mu.Lock()
		queued = append(queued, r.queued...)
		conflicts += r.conflicts
		if len(r.failures) > 0 {
			t.Errorf("enqueue failures: %v", r.failures)
		}
		r.mu.Unlock()
	}
	slices.Sort(queued)
	slices.Sort(ids)
	if !slices.Equal(queued, ids) {
		t.Errorf("successful enqueues %v, queued tasks %v: want one per slot", queued, ids)
	}
	if conflicts < len(ids)-1 {
		t.Errorf("%d conflicts for %d slots: the replicas did not both fire the same ticks", conflicts, len(ids))
	}
	if logs := a.logs.String() + b.logs.String(); !strings.Contains(logs, "already queued by another replica") {
		t.Errorf("conflict not logged at debug:\n%s", logs)
	}
}

func TestRegisterRefusesMisuse(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := newClient(t, srv)
	spec, _ := Parse("@every 1m")

	bare := asynq.NewSchedulerFromRedisClient(rdb, &asynq.SchedulerOpts{Logger: quietAsynq{}})
	if _, err := NewEntry(spec, nil).Register(bare, scheduleTask(t, time.Second)); err == nil || !strings.Contains(err.Error(), "Install") {
		t.Errorf("Register without Install: %v", err)
	}

	entry := NewEntry(spec, nil)
	opts := &asynq.SchedulerOpts{Logger: quietAsynq{}}
	entry.Install(opts)
	sched := asynq.NewSchedulerFromRedisClient(rdb, opts)
	for _, o := range []asynq.Option{asynq.Deadline(time.Now().Add(time.Minute)), asynq.Unique(time.Minute), asynq.TaskID("x")} {
		if _, err := entry.Register(sched, scheduleTask(t, time.Second), o); err == nil {
			t.Errorf("Register with %s: no error", o)
		}
	}
	if _, err := entry.Register(sched, scheduleTask(t, time.Second), asynq.MaxRetry(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := entry.Register(sched, scheduleTask(t, time.Second)); err == nil {
		t.Error("second Register: no error")
	}
}

// A tick whose predecessor is still enqueuing (Redis slow) must not touch the TaskID the
// predecessor is reading; it reuses it, so at worst it conflicts.
func TestOverlappingTickKeepsTaskID(t *testing.T) {
	spec, _ := Parse("@every 1s")
	logs := &logbuffer.Buffer{}
	entry := NewEntry(spec, slog.New(slog.NewTextHandler(logs, nil)))
	now := time.Unix(1000, 0)
	entry.now = func() time.Time { return now }
	var opts asynq.SchedulerOpts
	entry.Install(&opts)
	task := scheduleTask(t, time.Second)
	regOpts := []asynq.Option{fenceOption{entry, true}, asynq.TaskID(placeholderID), fenceOption{entry, false}}
	entry.task, entry.opts = task, regOpts

	opts.PreEnqueueFunc(task, regOpts) // tick 1 starts enqueuing
	if got := regOpts[idIndex].Value(); got != SlotPrefix+"1000" {
		t.Fatalf("tick 1 TaskID = %v", got)
	}
	now = now.Add(time.Second)
	opts.PreEnqueueFunc(task, regOpts) // tick 2 while tick 1 is in flight
	if got := regOpts[idIndex].Value(); got != SlotPrefix+"1000" {
		t.Errorf("overlapping tick rewrote the TaskID to %v", got)
	}
	if !strings.Contains(logs.String(), "still running") {
		t.Errorf("overlap not logged:\n%s", logs)
	}
	opts.PostEnqueueFunc(nil, errors.New("redis down"))
	opts.PostEnqueueFunc(nil, asynq.ErrTaskIDConflict)
	now = now.Add(time.Second)
	opts.PreEnqueueFunc(task, regOpts) // both done: tick 3 gets its own slot
	if got := regOpts[idIndex].Value(); got != SlotPrefix+"1002" {
		t.Errorf("tick 3 TaskID = %v, want slot 1002", got)
	}
	// A foreign task on the same scheduler is passed through untouched.
	other := asynq.NewTask("other", nil)
	foreign := []asynq.Option{asynq.TaskID("mine")}
	opts.PreEnqueueFunc(other, foreign)
	if foreign[0].Value() != "mine" {
		t.Error("a foreign entry's options were rewritten")
	}
	// The heartbeat's view goes through the fences without deadlock.
	if s := strings.Join(stringify(regOpts), " "); !strings.Contains(s, SlotPrefix+"1002") {
		t.Errorf("stringified options %q", s)
	}
}

func stringify(opts []asynq.Option) []string {
	var out []string
	for _, o := range opts {
		out = append(out, o.String())
	}
	return out
}

// scheduleTask is the reconcile task the worker registers, with deadline as its Timeout.
func scheduleTask(t *testing.T, deadline time.Duration) *asynq.Task {
	t.Helper()
	task, err := jobs.Tasks{ReconcileDeadline: deadline}.Reconcile(jobs.ReconcilePayload{Trigger: jobs.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	return task
}
