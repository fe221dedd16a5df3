package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// restartWatcher checks every interval, and at once when kicked (a new connection was dialled,
// so the old one dropped; Redis answers again after an outage), whether Redis lost its data:
// the sentinel key (adapters/redislock) vanishes when Redis restarts empty, is flushed or
// evicts it, and the server's run_id changes on a restart with persistence. Nothing emits an
// event for either.
//
// It also decides what an ended outage costs: when Redis answers again, the next check tells a
// restart that lost data (the redis-restart path) from a pause that kept it (SIGSTOP, a network
// cut: redis-back). Either way, one full reconcile.
type restartWatcher struct {
	w        *Worker
	records  RestartRecords
	interval time.Duration
	timeout  time.Duration
	kick     chan struct{}
	runID    string      // last seen; "" before the first successful check
	back     atomic.Bool // Redis answered after an outage; the next good check queues redis-back
}

var errCheckStalled = errors.New("the every-second check (INFO, sentinel) got no answer within 2s")

func newRestartWatcher(w *Worker, records RestartRecords) *restartWatcher {
	return &restartWatcher{w: w, records: records, interval: time.Second, timeout: 2 * time.Second, kick: make(chan struct{}, 1)}
}

// Kick asks for a check now; it never blocks.
func (r *restartWatcher) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// redisBack is the outage watcher's onBack: remember that an outage ended and check now.
func (r *restartWatcher) redisBack() {
	r.back.Store(true)
	r.Kick()
}

func (r *restartWatcher) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	full, ticks := true, 0
	for {
		r.tick(ctx, full)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ticks++
			full = ticks%fullCheckEvery == 0
		case <-r.kick:
			full = true
		}
	}
}

// fullCheckEvery: every this many ticks the check reads the run_id even if nothing suggested
// a restart. The other ticks read only the sentinel (one command instead of two): a restart
// with persistence, the one case only the run_id shows, also drops every connection, and the
// drop watch and the dial hook kick a full check at once.
const fullCheckEvery = 30

// tick runs one check (full: with the run_id) and queues what it calls for.
func (r *restartWatcher) tick(ctx context.Context, full bool) {
	started := time.Now()
	// A check that has no answer within its timeout is a sign of an outage, whenever go-redis
	// gets round to failing it: a stopped server's kernel still accepts connections, and a
	// command's own timeouts and retries can take several times as long.
	stalled := time.AfterFunc(r.timeout, func() {
		if ctx.Err() == nil {
			r.w.outage.failed(started, errCheckStalled)
		}
	})
	reason, err := r.check(ctx, full)
	stalled.Stop()
	switch {
	case err != nil:
		if ctx.Err() == nil && !isAnswer(err) {
			// The hook leaves a caller's own deadline alone; here it is Redis's silence.
			r.w.outage.failed(started, err)
			r.w.log.Debug("redis restart check", "err", err)
		}
	case reason != "":
		r.back.Store(false) // the restart reconcile covers the outage too
		r.w.onRedisRestart(ctx, reason)
	case r.back.Swap(false):
		go r.w.triggers.FullRetrying(ctx, jobs.TriggerRedisBack)
	}
}

// check returns why a full reconcile is needed, or "". Unless full, it reads the sentinel
// alone, and reads the run_id too only when the sentinel is not what this watcher last wrote
// or saw (gone, or rewritten by another replica).
func (r *restartWatcher) check(ctx context.Context, full bool) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if !full && r.runID != "" {
		stored, err := r.records.Sentinel(cctx)
		if err != nil {
			return "", err
		}
		if stored == r.runID {
			return "", nil
		}
	}
	runID, err := serverRunID(cctx, r.w.rdb)
	if err != nil {
		return "", err
	}
	stored, err := r.records.Sentinel(cctx)
	if err != nil {
		return "", err
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
		if err := r.records.SetSentinel(cctx, runID); err != nil {
			return "", err
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
	w.reconcileEverything(ctx)
}

// reconcileEverything re-registers asynq's queues (a Redis that restarted empty lost them)
// and queues one full redis-restart reconcile, through the pending mark.
func (w *Worker) reconcileEverything(ctx context.Context) {
	queues := make([]string, 0, len(jobs.Queues))
	for q := range jobs.Queues {
		queues = append(queues, q)
	}
	if err := w.store.RegisterQueues(ctx, queues...); err != nil && !w.outage.Quiet() {
		w.log.Warn("re-register asynq queues", "err", err)
	}
	w.triggers.FullRetrying(ctx, jobs.TriggerRedisRestart)
}
