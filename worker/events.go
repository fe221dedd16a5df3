package worker

import (
	"context"
	"time"

	"reconciler/jobs"
)

// LockEvent is a keyspace notification for a lock key (adapters/keyspace, adapted by cmd).
type LockEvent struct {
	Kind string // "del", "expired", "evicted" or "set"
	Tag  string
	At   time.Time
}

// EventSource delivers lock events until ctx ends; onResubscribed is called whenever events
// may have been missed (a lost and re-established subscription, flags turned on late).
type EventSource interface {
	Run(ctx context.Context, onEvent func(LockEvent), onResubscribed func()) error
}

// onLockEvent: events say when to look, never what is true. A del records a tombstone for
// the release race and asks for a look once the window has passed (if the sheet still says
// taken then, the backend failed to clear it, and the lock comes back without waiting for the
// schedule). Every del seen here is someone else's (the backend's release, a person's
// redis-cli): the worker's own deletions rename the key away first (redislock's
// delete_lock.lua), which notifies rename_from, never del, so they leave no tombstone and no
// look on any replica, however late its watcher. A set (the spool taken again) clears the
// tombstone only while the lock key exists (handled late, after a later DEL, the set must not
// erase that DEL's tombstone), and an expired or evicted lock asks for a reconcile of that tag
// now. Tombstones are stamped with Redis's clock; ev.At (this process's clock) only measures
// delays from the event's arrival.
func (w *Worker) onLockEvent(ctx context.Context, ev LockEvent) {
	var err error
	switch ev.Kind {
	case "del":
		err = w.store.WriteTombstone(ctx, ev.Tag)
		if err == nil {
			err = w.triggers.TriggerTagsAt(ctx, jobs.TriggerKeyspace, ev.At.Add(w.cfg.ReleaseSettle+time.Second), ev.Tag)
		}
	case "set":
		_, err = w.store.ClearTombstone(ctx, ev.Tag)
	case "expired", "evicted":
		w.log.Info("lock lost", "tag", ev.Tag, "event", ev.Kind)
		err = w.triggers.TriggerTags(ctx, jobs.TriggerKeyspace, ev.Tag)
	}
	if err != nil && ctx.Err() == nil {
		w.log.Warn("handle keyspace event", "event", ev.Kind, "tag", ev.Tag, "err", err)
	}
}

// runEvents subscribes until ctx ends; a resubscription means events may have been lost,
// which only a full reconcile can make up for. After an outage the watcher resubscribes once
// Redis answers: that gap is the outage's, and its reconcile is redis-back (coalesced with the
// one the outage watcher queued while that one has not started).
func (w *Worker) runEvents(ctx context.Context, src EventSource) {
	outages := w.outage.Count()
	err := src.Run(ctx,
		func(ev LockEvent) { w.onLockEvent(ctx, ev) },
		func() {
			if n := w.outage.Count(); n != outages {
				outages = n
				w.log.Info("keyspace subscription re-established after the outage; events of the gap are covered by a redis-back reconcile")
				go w.triggers.FullRetrying(ctx, jobs.TriggerRedisBack)
				return
			}
			w.log.Warn("keyspace subscription re-established; events may have been missed: reconciling everything")
			go w.reconcileEverything(ctx)
		})
	if err != nil && ctx.Err() == nil {
		w.log.Error("keyspace events stopped", "err", err)
	}
}
