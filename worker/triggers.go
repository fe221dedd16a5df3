package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/jobs"
)

// pendingKey marks that a full reconcile is queued and has not started reading yet.
const pendingKey = "reconciler:pending:full"

// ClearPending implements jobs.PendingMarker.
func (w *Worker) ClearPending(ctx context.Context) error {
	return w.rdb.Del(ctx, pendingKey).Err()
}

// TriggerFull queues a full reconcile for an automatic trigger unless one is already queued
// and not started: that one reads the sheet after this trigger, so it covers it. A trigger
// during a run finds the mark cleared and queues exactly one follow-up. Nothing is dropped.
func (w *Worker) TriggerFull(ctx context.Context, trigger string) error {
	ok, err := w.rdb.SetNX(ctx, pendingKey, trigger, 10*time.Minute).Result()
	if err != nil {
		return fmt.Errorf("mark a pending %s reconcile: %w", trigger, err)
	}
	if !ok {
		w.log.Debug("a full reconcile is already pending; it covers this trigger", "trigger", trigger)
		return nil
	}
	info, err := w.Enqueue(ctx, jobs.ReconcilePayload{Trigger: trigger})
	if err != nil {
		_ = w.rdb.Del(context.WithoutCancel(ctx), pendingKey).Err()
		return fmt.Errorf("queue a %s reconcile: %w", trigger, err)
	}
	w.log.Info("full reconcile queued", "trigger", trigger, "task_id", info.ID)
	return nil
}

// TriggerTags queues a reconcile of some tags into the group named after its trigger
// (keyspace, stale-restore): asynq aggregates a group's tasks into one reconcile after a short
// grace period, so a burst of expirations costs one sheet read. It implements jobs.Retrigger.
func (w *Worker) TriggerTags(ctx context.Context, trigger string, tags ...string) error {
	task, err := w.cfg.Tasks.Reconcile(jobs.ReconcilePayload{Trigger: trigger, Spools: tags}, asynq.Group(trigger))
	if err != nil {
		return err
	}
	w.kick() // the group's reconcile is queued after the grace period: be polling for it
	if _, err := w.client.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("queue a %s reconcile of %v: %w", trigger, tags, err)
	}
	return nil
}

// TriggerTagsAt is TriggerTags at a later time, timed in this process: asynq forwards a
// scheduled task straight to pending even when it names a group, so delayed tasks would not
// be coalesced. A restart loses the timer; the schedule covers that. It implements
// jobs.Retrigger.
func (w *Worker) TriggerTagsAt(ctx context.Context, trigger string, at time.Time, tags ...string) error {
	time.AfterFunc(time.Until(at), func() {
		if ctx.Err() != nil {
			return
		}
		if err := w.TriggerTags(ctx, trigger, tags...); err != nil && ctx.Err() == nil {
			w.log.Warn("queue a delayed reconcile", "trigger", trigger, "spools", tags, "err", err)
		}
	})
	return nil
}

// aggregateTags merges a group of targeted reconciles into one over the union of their tags.
// Groups are named after their trigger (see TriggerTags).
func (w *Worker) aggregateTags(group string, tasks []*asynq.Task) *asynq.Task {
	seen := map[string]bool{}
	var spools []string
	for _, t := range tasks {
		p, err := jobs.DecodeReconcilePayload(t.Payload())
		if err != nil {
			w.log.Error("drop an unreadable targeted reconcile from the group", "group", group, "err", err)
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
	task, _ := w.cfg.Tasks.Reconcile(jobs.ReconcilePayload{Trigger: group, Spools: spools})
	w.log.Info("targeted reconciles coalesced", "group", group, "requests", len(tasks), "spools", len(spools))
	return task
}

// retryEnqueue repeats f with backoff until it succeeds or ctx ends (Redis may be down).
func (w *Worker) retryEnqueue(ctx context.Context, what string, f func() error) {
	delay := 500 * time.Millisecond
	for {
		err := f()
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		w.log.Warn(what+"; retrying", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}
