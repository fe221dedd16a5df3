package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
	"reconciler/schedules"
)

// Worker is one running reconciler process.
type Worker struct {
	cfg   Config
	log   *slog.Logger
	rdb   redis.UniversalClient
	store Store

	client     *asynq.Client
	inspector  *asynq.Inspector
	reconciler *jobs.Reconciler
	restorer   *jobs.Restorer
	metrics    *Metrics
	restart    *restartWatcher
	events     EventSource

	addrMu sync.Mutex
	addr   net.Addr // where HTTP listens, once it does
}

// Parts are what cmd/reconciler built from the configuration.
type Parts struct {
	Redis   redis.UniversalClient // one small pool, shared by asynq and the lock store
	Sheet   jobs.SheetReader
	Store   Store
	Metrics *Metrics    // nil: a new registry
	Events  EventSource // nil: no keyspace events
}

// New wires the handlers to the parts.
func New(cfg Config, log *slog.Logger, p Parts) *Worker {
	if p.Metrics == nil {
		p.Metrics = NewMetrics()
	}
	rdb, sheet, store := p.Redis, p.Sheet, p.Store
	w := &Worker{cfg: cfg, log: log, rdb: rdb, store: store, metrics: p.Metrics, events: p.Events}
	w.client = asynq.NewClientFromRedisClient(rdb)
	w.inspector = asynq.NewInspectorFromRedisClient(rdb)
	w.reconciler = &jobs.Reconciler{
		Sheet: sheet, Locks: store, Runs: store, Queue: queue{w.client, w.inspector, rdb},
		Rules: cfg.Rules, Tasks: cfg.Tasks, Settle: cfg.ReleaseSettle, OrphanGrace: cfg.OrphanGrace,
		Retrigger: w, Log: log, Observer: w.metrics,
		Budget:  &readBudget{rdb: rdb, max: int64(cfg.MaxReadsPerMinute), now: time.Now},
		Pending: w,
	}
	w.restart = newRestartWatcher(w)
	rdb.AddHook(dialHook{w.restart.Kick})
	w.restorer = &jobs.Restorer{
		Locks: store, Runs: store, Rules: cfg.Rules, Staleness: cfg.RestoreMaxStaleness,
		Settle: cfg.ReleaseSettle, Log: log, Observer: w.metrics, Retrigger: w,
	}
	return w
}

// Metrics is the worker's Prometheus registry and collectors.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// Run serves until ctx is cancelled, then shuts down: HTTP stops, in-flight tasks get
// ShutdownTimeout to finish and are handed back to the queue otherwise.
func (w *Worker) Run(ctx context.Context) error {
	mux := asynq.NewServeMux()
	mux.Handle(jobs.TypeReconcile, w.reconciler)
	mux.Handle(jobs.TypeRestore, w.restorer)
	servers, err := startTaskServers(w.rdb, asynq.Config{
		Concurrency:      w.cfg.Concurrency, // in all, split between the servers
		Queues:           jobs.Queues,
		ErrorHandler:     asynq.ErrorHandlerFunc(w.restorer.HandleError),
		Logger:           asynqLogger{w.log},
		LogLevel:         asynq.WarnLevel,
		ShutdownTimeout:  w.cfg.ShutdownTimeout,
		GroupAggregator:  asynq.GroupAggregatorFunc(w.aggregateTags),
		GroupGracePeriod: time.Second,
		GroupMaxDelay:    2 * time.Second,
		// asynq sleeps 0.5-1.5 × this when its queues are empty before it looks again; the 1 s
		// default added about a second to every recovery twice (the reconcile, then the first
		// restore). An idle worker pays one dequeue script call per check.
		TaskCheckInterval: taskCheckInterval,
		RetryDelayFunc:    retryDelay,
		// Retries (a restore taken back from a dead worker) move to pending within a second,
		// not the default five.
		DelayedTaskCheckInterval: time.Second,
	}, mux)
	if err != nil {
		return err
	}

	scheduler, err := w.startScheduler()
	if err != nil {
		servers.Shutdown()
		return err
	}
	httpSrv, err := w.startHTTP()
	if err != nil {
		servers.Shutdown()
		if scheduler != nil {
			scheduler.Shutdown()
		}
		return err
	}

	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); w.bootReconcile(ctx) }()
	go func() { defer bg.Done(); w.restart.run(ctx) }()
	if w.events != nil {
		bg.Add(1)
		go func() { defer bg.Done(); w.runEvents(ctx, w.events) }()
	}

	<-ctx.Done()
	w.log.Info("shutting down", "shutdown_timeout", w.cfg.ShutdownTimeout.String())
	var down sync.WaitGroup
	down.Add(3)
	go func() {
		defer down.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}()
	go func() {
		defer down.Done()
		if scheduler != nil {
			scheduler.Shutdown()
		}
	}()
	go func() { defer down.Done(); servers.Shutdown() }()
	down.Wait()
	bg.Wait()
	w.log.Info("stopped")
	return nil
}

const taskCheckInterval = 100 * time.Millisecond

// retryDelay is asynq's default backoff, except for a task taken back from a worker that
// died (its lease expired): that task did nothing wrong, and a restore waiting behind it
// keeps a spool unlocked, so it runs again at once.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, asynq.ErrLeaseExpired) {
		return time.Second
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// startScheduler registers RECONCILE_SCHEDULE with asynq's scheduler (visible in asynqmon);
// every replica runs one and the per-tick TaskID lets one reconcile through per tick.
func (w *Worker) startScheduler() (*asynq.Scheduler, error) {
	if w.cfg.Schedule == nil {
		w.log.Info("schedule off: reconciles run on boot, keyspace events, Redis restarts and on demand")
		return nil, nil
	}
	entry := schedules.NewEntry(w.cfg.Schedule, w.log)
	opts := &asynq.SchedulerOpts{Location: w.cfg.Location, Logger: asynqLogger{w.log}, LogLevel: asynq.WarnLevel}
	entry.Install(opts)
	scheduler := asynq.NewSchedulerFromRedisClient(w.rdb, opts)
	task, err := w.cfg.Tasks.Reconcile(jobs.ReconcilePayload{Trigger: jobs.TriggerSchedule})
	if err != nil {
		return nil, err
	}
	if _, err := entry.Register(scheduler, task); err != nil {
		return nil, fmt.Errorf("register RECONCILE_SCHEDULE %q: %w", w.cfg.Schedule.Raw, err)
	}
	if err := scheduler.Start(); err != nil {
		return nil, fmt.Errorf("start the scheduler: %w", err)
	}
	w.log.Info("schedule on", "spec", w.cfg.Schedule.Raw)
	return scheduler, nil
}

// bootReconcile enqueues the boot reconcile, retrying while Redis is unreachable. Its TaskID
// is the minute slot, so quick restarts and replicas starting together run one.
func (w *Worker) bootReconcile(ctx context.Context) {
	w.retryEnqueue(ctx, "queue boot reconcile", func() error {
		id := jobs.BootTaskID(time.Now())
		info, err := w.Enqueue(ctx, jobs.ReconcilePayload{Trigger: jobs.TriggerBoot}, asynq.TaskID(id))
		switch {
		case err == nil:
			w.log.Info("boot reconcile queued", "task_id", info.ID)
		case errors.Is(err, asynq.ErrTaskIDConflict):
			w.log.Info("boot reconcile already queued by a recent start", "task_id", id)
			return nil
		}
		return err
	})
}

// Enqueue queues a reconcile with the configured deadline.
func (w *Worker) Enqueue(ctx context.Context, p jobs.ReconcilePayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	task, err := w.cfg.Tasks.Reconcile(p, opts...)
	if err != nil {
		return nil, err
	}
	return w.client.EnqueueContext(ctx, task)
}

// Addr is where the HTTP server listens (nil before it does).
func (w *Worker) Addr() net.Addr {
	w.addrMu.Lock()
	defer w.addrMu.Unlock()
	return w.addr
}

func (w *Worker) startHTTP() (*http.Server, error) {
	ln, err := net.Listen("tcp", w.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (PORT): %w", w.cfg.HTTPAddr, err)
	}
	w.addrMu.Lock()
	w.addr = ln.Addr()
	w.addrMu.Unlock()
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("http server", "err", err)
		}
	}()
	w.log.Info("http listening", "addr", ln.Addr().String())
	return srv, nil
}

// dialHook kicks the restart watcher whenever a new connection is dialled: a dropped
// connection is the first sign of a restarted Redis.
type dialHook struct{ kick func() }

func (h dialHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err == nil {
			h.kick()
		}
		return conn, err
	}
}
func (h dialHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h dialHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
