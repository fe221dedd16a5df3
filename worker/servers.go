package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// taskServers are the process's asynq servers: one that always runs and polls its empty
// queues slowly (an idle worker should cost the shared Redis and the CPU bill next to nothing),
// and a second that polls fast, started while this process has work and stopped when it has
// had none for a while (the boost).
//
// Why a boost instead of a fast poll: asynq looks for tasks by polling, one dequeue script per
// queue per check, so a 100 ms poll on two servers was most of an idle worker's 146 Redis
// commands a second. A slow poll alone would add up to a second to every recovery twice (the
// reconcile, then its restores). But a recovery starts with something this process knows
// about (it noticed the restart and queued the reconcile, or it runs the reconcile that queues
// the restores), so that is when it starts the fast server, whose first dequeue is at once.
//
// The configured concurrency is split between the two (WORKER_CONCURRENCY is still the number
// of tasks in flight); with a concurrency of 1 there is no boost. asynq's dequeue loop starts
// at most one task per round trip, so two servers also dequeue twice as fast during a recovery
// of single restores.
type taskServers struct {
	rdb       redis.UniversalClient
	handler   asynq.Handler
	main      asynq.Config // the always-on server
	boost     asynq.Config // Concurrency 0: no boost
	boostIdle time.Duration

	running atomic.Int64 // tasks in flight in this process: the boost is not stopped under them

	mu       sync.Mutex
	always   *asynq.Server
	fast     *asynq.Server // nil when not boosted
	lastKick time.Time
	stopped  bool
	stopping sync.WaitGroup // boosts being shut down
	done     chan struct{}
}

// boostConfig is how the fast server polls and how long it outlives the last kick.
type boostConfig struct {
	TaskCheckInterval        time.Duration
	DelayedTaskCheckInterval time.Duration // 0: the always-on server's
	GroupGracePeriod         time.Duration // 0: the always-on server's
	Idle                     time.Duration
}

// unboostedPoll caps the always-on server's polls when there is no boost.
const unboostedPoll = time.Second

// atMost is d capped at c; an unset d (asynq's default) counts as larger.
func atMost(d, c time.Duration) time.Duration {
	if d <= 0 || d > c {
		return c
	}
	return d
}

// startTaskServers starts the always-on server on rdb with cfg (cfg.Concurrency is the total;
// cfg.TaskCheckInterval its slow poll) and arms the boost.
func startTaskServers(rdb redis.UniversalClient, cfg asynq.Config, handler asynq.Handler, boost boostConfig) (*taskServers, error) {
	total := max(cfg.Concurrency, 1)
	s := &taskServers{main: cfg, boost: cfg, rdb: rdb, boostIdle: boost.Idle, done: make(chan struct{})}
	s.handler = s.track(handler)
	s.main.Concurrency = (total + 1) / 2
	s.boost.Concurrency = total - s.main.Concurrency
	s.boost.TaskCheckInterval = boost.TaskCheckInterval
	if boost.DelayedTaskCheckInterval > 0 {
		s.boost.DelayedTaskCheckInterval = boost.DelayedTaskCheckInterval
	}
	if boost.GroupGracePeriod > 0 {
		s.boost.GroupGracePeriod = boost.GroupGracePeriod
	}
	if s.boost.Concurrency == 0 {
		// No boost to do the prompt work (a concurrency of 1): the always-on server polls as
		// the whole worker did before the idle intervals were lengthened, about once a second.
		s.main.TaskCheckInterval = atMost(s.main.TaskCheckInterval, unboostedPoll)
		s.main.DelayedTaskCheckInterval = atMost(s.main.DelayedTaskCheckInterval, unboostedPoll)
		if boost.GroupGracePeriod > 0 {
			s.main.GroupGracePeriod = atMost(s.main.GroupGracePeriod, boost.GroupGracePeriod)
		}
	}
	s.always = asynq.NewServerFromRedisClient(rdb, s.main)
	if err := s.always.Start(s.handler); err != nil {
		return nil, fmt.Errorf("start the task server: %w", err)
	}
	go s.reap()
	return s, nil
}

// Kick says this process has work now or in a moment: the fast server runs (it is started if
// it is not) until boostIdle passes without another kick. It never blocks on Redis for long:
// starting a server only starts its goroutines.
func (s *taskServers) Kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.boost.Concurrency == 0 {
		return
	}
	s.lastKick = time.Now()
	if s.fast != nil {
		return
	}
	srv := asynq.NewServerFromRedisClient(s.rdb, s.boost)
	if err := srv.Start(s.handler); err != nil {
		if s.main.Logger != nil {
			s.main.Logger.Warn(fmt.Sprintf("start the fast task server: %v", err))
		}
		return
	}
	s.fast = srv
}

// track wraps the handler: a task running here keeps the boost on (a reconcile queues restores,
// and the fast server picks them up at once), and the boost is not stopped while any task runs
// (stopping a server hands back tasks that outlive its ShutdownTimeout).
func (s *taskServers) track(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		s.running.Add(1)
		s.Kick()
		defer func() {
			s.running.Add(-1)
			s.Kick()
		}()
		return next.ProcessTask(ctx, t)
	})
}

// boosted reports whether the fast server runs.
func (s *taskServers) boosted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fast != nil
}

// reap stops the fast server once no task runs and boostIdle has passed since the last kick.
func (s *taskServers) reap() {
	t := time.NewTicker(max(s.boostIdle/5, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if srv := s.fast; srv != nil && s.running.Load() == 0 && time.Since(s.lastKick) >= s.boostIdle {
			s.fast = nil
			s.stopping.Add(1)
			go func() { defer s.stopping.Done(); srv.Shutdown() }()
		}
		s.mu.Unlock()
	}
}

// Shutdown stops every server at once: each stops dequeuing, gives its in-flight tasks the
// ShutdownTimeout, then hands the rest back to the queue; the total wait is one timeout.
func (s *taskServers) Shutdown() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	close(s.done)
	all := []*asynq.Server{s.always}
	if s.fast != nil {
		all = append(all, s.fast)
		s.fast = nil
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, srv := range all {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown() }()
	}
	wg.Wait()
	s.stopping.Wait()
}
