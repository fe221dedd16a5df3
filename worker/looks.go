package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// The look watch (see watchLooks): how often it looks, and how far ahead.
// Every two seconds, three seconds ahead: a look due at T is seen by a check between T-3 s
// and T-1 s, early enough to wake the fast server for it (wakeLead), at half a command a
// second; only a look asked for less than three seconds ahead by a process that died at once
// can be up to two seconds late.
const (
	lookWatchEvery  = 2 * time.Second
	lookWatchWindow = 3 * time.Second
)

// scheduledKey is asynq's sorted set of the reconcile queue's scheduled tasks (score: unix
// seconds of ProcessAt), where delayed looks wait for their time.
var scheduledKey = "asynq:{" + jobs.QueueReconcile + "}:scheduled"

// watchLooks wakes this process's fast task server just before the next scheduled task of the
// reconcile queue is due, whoever scheduled it. The process that asked for a look arms its own
// wake-up (Triggers.TriggerTagsAt); this covers a look asked for by a process that has died
// since, or by another replica: without it such a look would wait for the always-on server's
// slow poll (its forwarder every 5 s, then a dequeue within 1.25-3.75 s). It costs one command
// every two seconds: the earliest member of the set due within the next three seconds.
func (w *Worker) watchLooks(ctx context.Context) {
	tick := time.NewTicker(lookWatchEvery)
	defer tick.Stop()
	var armed int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		max := strconv.FormatInt(time.Now().Add(lookWatchWindow).Unix(), 10)
		next, err := w.rdb.ZRangeByScoreWithScores(ctx, scheduledKey, &redis.ZRangeBy{Min: "-inf", Max: max, Offset: 0, Count: 1}).Result()
		if err != nil || len(next) == 0 {
			continue // an outage has its own watcher and lines
		}
		if due := int64(next[0].Score); due != armed {
			armed = due
			w.triggers.WakeAt(time.Unix(due, 0))
		}
	}
}
