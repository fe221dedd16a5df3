package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/jobs"
)

// Triggers is the one place that queues reconciles: the boot reconcile, full reconciles of the
// automatic triggers (coalesced by the pending mark), targeted looks (coalesced by asynq groups
// and aggregateTags) and delayed looks. The restart and outage watchers, the keyspace events and
// the restorer all call into it. It implements jobs.Retrigger and jobs.PendingMarker.
type Triggers struct {
	log    *slog.Logger
	tasks  jobs.Tasks
	client *asynq.Client
	marks  PendingMarks
	// quiet says Redis is known to be down (or just came back): a failed enqueue is expected
	// then, and the outage has its own log line.
	quiet func() bool
	// kickServers, when set, tells this process's task servers that work is coming (servers.go).
	kickServers func()

	lifeMu sync.Mutex
	life   context.Context // the worker's run (see live); nil before Run
}

var (
	_ jobs.Retrigger     = (*Triggers)(nil)
	_ jobs.PendingMarker = (*Triggers)(nil)
)

// pendingTTL bounds a pending mark whose run never started (its queue was lost with Redis).
const pendingTTL = 10 * time.Minute

// Enqueue queues a reconcile made by the configured jobs.Tasks (deadline, queue, retention).
func (t *Triggers) Enqueue(ctx context.Context, p jobs.ReconcilePayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	task, err := t.tasks.Reconcile(p, opts...)
	if err != nil {
		return nil, err
	}
	t.kick()
	return t.client.EnqueueContext(ctx, task)
}

// Boot queues the boot reconcile, retrying while Redis is unreachable. Its TaskID is the
// minute slot, so quick restarts and replicas starting together run one.
func (t *Triggers) Boot(ctx context.Context) {
	t.retry(ctx, "queue boot reconcile", func() error {
		id := jobs.BootTaskID(time.Now())
		info, err := t.Enqueue(ctx, jobs.ReconcilePayload{Trigger: jobs.TriggerBoot}, asynq.TaskID(id))
		switch {
		case err == nil:
			t.log.Info("boot reconcile queued", "task_id", info.ID)
		case errors.Is(err, asynq.ErrTaskIDConflict):
			t.log.Info("boot reconcile already queued by a recent start", "task_id", id)
			return nil
		}
		return err
	})
}

// ClearPending implements jobs.PendingMarker: a full reconcile started reading.
func (t *Triggers) ClearPending(ctx context.Context) error { return t.marks.ClearPending(ctx) }

// Full queues a full reconcile for an automatic trigger unless one is already queued and not
// started: that one reads the sheet after this trigger, so it covers it. A trigger during a
// run finds the mark cleared and queues exactly one follow-up. Nothing is dropped.
func (t *Triggers) Full(ctx context.Context, trigger string) error {
	ok, err := t.marks.MarkPending(ctx, trigger, pendingTTL)
	if err != nil {
		return err
	}
	if !ok {
		t.log.Debug("a full reconcile is already pending; it covers this trigger", "trigger", trigger)
		return nil
	}
	info, err := t.Enqueue(ctx, jobs.ReconcilePayload{Trigger: trigger})
	if err != nil {
		_ = t.marks.ClearPending(context.WithoutCancel(ctx))
		return fmt.Errorf("queue a %s reconcile: %w", trigger, err)
	}
	t.log.Info("full reconcile queued", "trigger", trigger, "task_id", info.ID)
	return nil
}

// FullRetrying is Full, retried with backoff until it succeeds or ctx ends (Redis may be
// down again).
func (t *Triggers) FullRetrying(ctx context.Context, trigger string) {
	t.retry(ctx, "queue the "+trigger+" reconcile", func() error { return t.Full(ctx, trigger) })
}

// TriggerTags queues a reconcile of some tags into the group named after its trigger
// (keyspace, stale-restore): asynq aggregates a group's tasks into one reconcile after a short
// grace period, so a burst of expirations costs one sheet read. It implements jobs.Retrigger.
func (t *Triggers) TriggerTags(ctx context.Context, trigger string, tags ...string) error {
	task, err := t.tasks.Reconcile(jobs.ReconcilePayload{Trigger: trigger, Spools: tags}, asynq.Group(trigger))
	if err != nil {
		return err
	}
	t.kick() // the group's reconcile is queued after the grace period: be polling for it
	if _, err := t.client.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("queue a %s reconcile of %v: %w", trigger, tags, err)
	}
	return nil
}

// TriggerTagsAt is TriggerTags at a later time (a restore's verification, an orphan's grace
// ending, the look after a release). It schedules a look:due task for at, rounded up to the
// whole second (jobs.Tasks.Look): the look lives in Redis, so a restart, a crash or a change
// of replica loses none, and any worker carries it out when due. Its TaskID is the trigger,
// the due second and the sorted tags, so the same look asked for twice is one task; when it
// is due its handler (ProcessLook) queues the targeted reconcile into the trigger's group,
// where looks due together are aggregated into one run. A look already due is queued at once.
// It implements jobs.Retrigger.
//
// This process also arms a timer that starts its fast task server just before the look is
// due, so the look runs within a fraction of a second of its time; the timer is only a
// wake-up (it ends with the worker's run), the task is the look.
func (t *Triggers) TriggerTagsAt(ctx context.Context, trigger string, at time.Time, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	if !time.Now().Before(at) {
		return t.TriggerTags(ctx, trigger, tags...)
	}
	task, err := t.tasks.Look(trigger, at, tags...)
	if err != nil {
		return err
	}
	_, err = t.client.EnqueueContext(ctx, task)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		t.log.Debug("the same look is already scheduled", "trigger", trigger, "spools", len(tags), "due", jobs.LookDue(at))
	case err != nil:
		return fmt.Errorf("schedule a %s look at %s of %d spools: %w", trigger, jobs.LookDue(at).Format(time.RFC3339), len(tags), err)
	}
	t.WakeAt(jobs.LookDue(at))
	return nil
}

// wakeLead is how long before a look is due the wake-up timer starts the fast server: enough
// for it to start and for its forwarder to move the look to pending on time.
const wakeLead = 300 * time.Millisecond

// WakeAt starts this process's fast task server just before due (see TriggerTagsAt), unless
// the worker's run has ended by then.
func (t *Triggers) WakeAt(due time.Time) {
	ctx := t.lifetime(context.Background())
	time.AfterFunc(time.Until(due)-wakeLead, func() {
		if ctx.Err() == nil {
			t.kick()
		}
	})
}

// ProcessLook is the look:due handler: the look is due, so its targeted reconcile is queued
// into the trigger's group (TriggerTags). A failure is retried by asynq.
func (t *Triggers) ProcessLook(ctx context.Context, task *asynq.Task) error {
	p, err := jobs.DecodeLookPayload(task.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if len(p.Spools) == 0 {
		return nil
	}
	if err := t.TriggerTags(ctx, p.Trigger, p.Spools...); err != nil {
		return err
	}
	if w := task.ResultWriter(); w != nil {
		body, _ := json.Marshal(map[string]any{"trigger": p.Trigger, "due": p.Due, "spools": len(p.Spools), "queued": true})
		_, _ = w.Write(body)
	}
	return nil
}

// Aggregate merges a group of targeted reconciles into one over the union of their tags
// (asynq's GroupAggregator). Groups are named after their trigger (see TriggerTags).
func (t *Triggers) Aggregate(group string, tasks []*asynq.Task) *asynq.Task {
	seen := map[string]bool{}
	var spools []string
	for _, task := range tasks {
		p, err := jobs.DecodeReconcilePayload(task.Payload())
		if err != nil {
			t.log.Error("drop an unreadable targeted reconcile from the group", "group", group, "err", err)
			continue
		}
		for _, s := range p.Spools {
			if !seen[s] {
				seen[s] = true
				spools = append(spools, s)
			}
		}
	}
	// Marshalling this payload cannot fail; asynq must never get a nil task back.
	task, _ := t.tasks.Reconcile(jobs.ReconcilePayload{Trigger: group, Spools: spools})
	t.log.Info("targeted reconciles coalesced", "group", group, "requests", len(tasks), "spools", len(spools))
	return task
}

// retry repeats f with backoff until it succeeds or ctx ends (Redis may be down). Only the
// first failure is a warning, and none while Redis is known to be down: the outage has its
// own pair of lines, and a line a second would bury them.
func (t *Triggers) retry(ctx context.Context, what string, f func() error) {
	delay := 500 * time.Millisecond
	for first := true; ; first = false {
		err := f()
		if err == nil || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return
		}
		level := slog.LevelDebug
		if first && (t.quiet == nil || !t.quiet()) {
			level = slog.LevelWarn
		}
		t.log.Log(ctx, level, what+"; retrying", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// live ties the wake-up timers of delayed looks to the worker's run (see WakeAt).
func (t *Triggers) live(ctx context.Context) {
	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	t.life = ctx
}

// lifetime is the worker's run once it has started, else the caller's ctx (tests that drive
// Triggers without a running worker).
func (t *Triggers) lifetime(ctx context.Context) context.Context {
	t.lifeMu.Lock()
	defer t.lifeMu.Unlock()
	if t.life != nil {
		return t.life
	}
	return ctx
}

func (t *Triggers) kick() {
	if t.kickServers != nil {
		t.kickServers()
	}
}
