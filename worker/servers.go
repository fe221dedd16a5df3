package worker

import (
	"fmt"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// maxDequeueLoops is how many asynq servers one process runs at most.
//
// asynq's processor dequeues one task at a time in a single loop, one script round trip each,
// and only then hands the task to a worker goroutine: however high its concurrency, a server
// starts at most one task per dequeue round trip. In a recovery of 20,000 locks that loop was
// the limit (about 110 µs a task on the 2-core machine, with workers idle); a second server
// dequeues alongside the first and took the recovery from 2.4-2.9 s to 2.1-2.3 s in the same
// bench run. A third added nothing measurable: by then the two cores are busy.
const maxDequeueLoops = 2

// taskServers are the process's asynq servers: the same handlers, queues and options, the
// configured concurrency split between them, so WORKER_CONCURRENCY is still the number of
// tasks in flight. asynqmon lists each as a server of the same host and pid.
type taskServers []*asynq.Server

// startTaskServers starts min(maxDequeueLoops, cfg.Concurrency) servers on rdb; cfg.Concurrency
// is the total. When one fails to start, those already started are shut down.
func startTaskServers(rdb redis.UniversalClient, cfg asynq.Config, handler asynq.Handler) (taskServers, error) {
	total := max(cfg.Concurrency, 1)
	n := min(maxDequeueLoops, total)
	servers := make(taskServers, 0, n)
	for i := range n {
		c := cfg
		c.Concurrency = total / n
		if i < total%n {
			c.Concurrency++
		}
		s := asynq.NewServerFromRedisClient(rdb, c)
		if err := s.Start(handler); err != nil {
			servers.Shutdown()
			return nil, fmt.Errorf("start task server %d of %d: %w", i+1, n, err)
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// Shutdown stops every server at once: each stops dequeuing, gives its in-flight tasks the
// ShutdownTimeout, then hands the rest back to the queue; the total wait is one timeout.
func (s taskServers) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown() }()
	}
	wg.Wait()
}
