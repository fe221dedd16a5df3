package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// sentinelKey holds the run_id of the Redis server that the workers last saw. If it vanishes
// (a restart without persistence, FLUSHALL, eviction) or the server's run_id changes (a restart
// with persistence), every lock may be gone: nothing emits an event for that.
const sentinelKey = "reconciler:sentinel"

// asynqQueuesKey is asynq's queue registry; a Redis that restarted empty lost it, and asynqmon
// lists only registered queues.
const asynqQueuesKey = "asynq:queues"

// restartWatcher checks the sentinel and run_id every interval, and at once when kicked (a new
// connection was dialled, so the old one dropped).
type restartWatcher struct {
	w        *Worker
	interval time.Duration
	kick     chan struct{}
	runID    string // last seen; "" before the first successful check
}

func newRestartWatcher(w *Worker) *restartWatcher {
	return &restartWatcher{w: w, interval: time.Second, kick: make(chan struct{}, 1)}
}

// Kick asks for a check now; it never blocks.
func (r *restartWatcher) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *restartWatcher) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if reason, err := r.check(ctx); err != nil {
			if ctx.Err() == nil {
				r.w.log.Debug("redis restart check", "err", err)
			}
		} else if reason != "" {
			r.w.onRedisRestart(ctx, reason)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// check returns why a full reconcile is needed, or "".
func (r *restartWatcher) check(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	runID, err := serverRunID(cctx, r.w.rdb)
	if err != nil {
		return "", err
	}
	stored, err := r.w.rdb.Get(cctx, sentinelKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read sentinel: %w", err)
	}
	first := r.runID == ""
	reason := ""
	switch {
	case first && stored == "":
		// First look at this Redis (or it is empty): the boot reconcile covers it.
	case first:
		// Another replica keeps the sentinel; a run_id change since then still counts.
		if stored != runID {
			reason = "server run_id changed"
		}
	case stored == "":
		reason = "sentinel key gone (Redis restarted empty, flushed or evicted it)"
	case runID != r.runID:
		reason = "server run_id changed (Redis restarted)"
	}
	if stored != runID {
		if err := r.w.rdb.Set(cctx, sentinelKey, runID, 0).Err(); err != nil {
			return "", fmt.Errorf("write sentinel: %w", err)
		}
	}
	r.runID = runID
	return reason, nil
}

func serverRunID(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		// A server that refuses INFO (renamed command, the embedded demo's miniredis) but
		// answers PING is checked by the sentinel alone.
		if perr := rdb.Ping(ctx).Err(); perr != nil {
			return "", fmt.Errorf("INFO server: %w", err)
		}
		return "no-run-id", nil
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v, nil
		}
	}
	// Some servers (and emulations) have no run_id: the sentinel alone still works.
	return "no-run-id", nil
}

// onRedisRestart re-registers asynq's queues (so asynqmon shows them again) and queues one
// full reconcile.
func (w *Worker) onRedisRestart(ctx context.Context, reason string) {
	w.log.Warn("Redis lost its data; reconciling everything", "reason", reason)
	queues := make([]any, 0, len(jobs.Queues))
	for q := range jobs.Queues {
		queues = append(queues, q)
	}
	if err := w.rdb.SAdd(ctx, asynqQueuesKey, queues...).Err(); err != nil {
		w.log.Warn("re-register asynq queues", "err", err)
	}
	w.retryEnqueue(ctx, "queue the redis-restart reconcile", func() error {
		return w.TriggerFull(ctx, jobs.TriggerRedisRestart)
	})
}
