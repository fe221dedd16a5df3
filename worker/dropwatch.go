package worker

import (
	"context"
	"time"
)

// dropWatchBlock is how long each BLPOP of the drop watch blocks: one command per period while
// idle, and the longest it delays shutdown.
const dropWatchBlock = time.Second

// dropWatchRetry paces the watch while Redis does not answer: quick at first, so a restarted
// Redis is seen within milliseconds, then no more than a few attempts a second during a long
// outage.
const (
	dropWatchRetry    = 10 * time.Millisecond
	dropWatchRetryMax = 250 * time.Millisecond
)

// watchDrops holds one connection blocked in BLPOP on a list nobody pushes to. When Redis goes
// away (killed, restarted) that connection fails at once, where the idle worker's other
// commands come about once a second: the restart watcher is kicked, and the watch retries
// every few milliseconds, so the first successful dial (the dial hook kicks the restart
// watcher again) comes as soon as Redis answers. A restart is then noticed in milliseconds
// instead of up to a second, at the cost of one command a second.
func (w *Worker) watchDrops(ctx context.Context) {
	pause := dropWatchRetry
	for ctx.Err() == nil {
		if err := w.store.WaitOnDropWatch(ctx, dropWatchBlock); err == nil || ctx.Err() != nil {
			pause = dropWatchRetry
			continue
		}
		w.restart.Kick()
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, dropWatchRetryMax)
	}
}
