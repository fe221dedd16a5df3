package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
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
	triggers   *Triggers
	restart    *restartWatcher
	outage     *outage
	events     EventSource

	addrMu sync.Mutex
	addr   net.Addr // where HTTP listens, once it does

	servers atomic.Pointer[taskServers] // set once Run has started them

	explainer *jobs.Explainer // GET /spools/…
	budget    jobs.ReadBudget // the page's sheet reads count against SHEETS_MAX_READS_PER_MINUTE
}

// Parts are what cmd/reconciler built from the configuration.
type Parts struct {
	Redis   redis.UniversalClient // one small pool, shared by asynq and the lock store
	Sheet   jobs.SheetReader
	Store   Store
	Metrics *Metrics    // nil: a new registry
	Events  EventSource // nil: no keyspace events
	// Suspect says whether the sheet is suspect as a whole (explain shows it); nil: never.
	Suspect jobs.SuspectReader
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
	w.restart = newRestartWatcher(w, store)
	w.outage = newOutage(log, w.restart.redisBack)
	w.triggers = &Triggers{log: log, tasks: cfg.Tasks, client: w.client, marks: store, quiet: w.outage.Quiet, kickServers: w.kick}
	rdb.AddHook(redisHook{o: w.outage, kick: w.restart.Kick})
	w.reconciler = &jobs.Reconciler{
		Sheet: sheet, Locks: store, Runs: store, Trust: store, Queue: queue{w.client, w.inspector, store},
		Rules: cfg.Rules, Tasks: cfg.Tasks, Settle: cfg.ReleaseSettle, OrphanGrace: cfg.OrphanGrace,
		Clock: store, Retrigger: w.triggers, Log: log, Observer: w.metrics,
		Budget:  &readBudget{reads: store, max: int64(cfg.MaxReadsPerMinute), now: time.Now},
		Pending: w.triggers,
		History: store,
	}
	w.explainer = NewExplainer(cfg, sheet, store, p.Suspect)
	w.budget = w.reconciler.Budget
	w.restorer = &jobs.Restorer{
		Locks: store, Runs: store, Rules: cfg.Rules, Staleness: cfg.RestoreMaxStaleness,
		Settle: cfg.ReleaseSettle, Log: log, Observer: w.metrics, Retrigger: w.triggers,
	}
	return w
}

// RedisQuiet says Redis is known to be unreachable, or answered again moments ago: log lines
// about it are the outage's, which has one line when it starts and one when it ends. cmd
// gives it to go-redis's logger (RedisLogger).
func (w *Worker) RedisQuiet() bool { return w.outage.Quiet() }

// RedisUnreachable reports a sign of an outage seen outside the shared client's commands (the
// keyspace watcher's stalled subscription): a command sent at sent got no answer.
func (w *Worker) RedisUnreachable(sent time.Time, err error) { w.outage.failed(sent, err) }

// Run serves until ctx is cancelled, then shuts down: HTTP stops, in-flight tasks get
// ShutdownTimeout to finish and are handed back to the queue otherwise.
func (w *Worker) Run(ctx context.Context) error {
	mux := asynq.NewServeMux()
	mux.Handle(jobs.TypeReconcile, w.reconciler)
	mux.Handle(jobs.TypeRestore, w.restorer)
	mux.HandleFunc(jobs.TypeRestoreBatch, w.restorer.ProcessBatch)
	mux.HandleFunc(jobs.TypeLook, w.triggers.ProcessLook)
	servers, err := startTaskServers(w.rdb, asynq.Config{
		Concurrency:      w.cfg.Concurrency, // in all, split between the servers
		Queues:           jobs.Queues,
		ErrorHandler:     asynq.ErrorHandlerFunc(w.restorer.HandleError),
		Logger:           asynqLogger{w.log, w.outage.Quiet},
		LogLevel:         asynq.WarnLevel,
		ShutdownTimeout:  w.cfg.ShutdownTimeout,
		GroupAggregator:  asynq.GroupAggregatorFunc(w.triggers.Aggregate),
		GroupGracePeriod: idleGroupGracePeriod,
		GroupMaxDelay:    2 * time.Second,
		// asynq sleeps 0.5-1.5 × this when its queues are empty before it looks again, and an
		// idle worker pays one dequeue script call per queue per check: slow while idle, fast
		// while boosted (servers.go).
		TaskCheckInterval: idleTaskCheckInterval,
		RetryDelayFunc:    retryDelay,
		// Scheduled tasks and retries move to pending within this while idle (one script call
		// per queue and set: 4 per check); delayed looks come due faster through the look
		// watch (looks.go), which boosts.
		DelayedTaskCheckInterval: idleDelayedTaskCheckInterval,
		// Completed tasks' expiry: two script calls per check; nothing waits on it.
		JanitorInterval: idleJanitorInterval,
	}, mux, boostConfig{
		TaskCheckInterval: boostTaskCheckInterval, DelayedTaskCheckInterval: boostDelayedTaskCheckInterval,
		GroupGracePeriod: boostGroupGracePeriod, Idle: boostIdle,
	})
	if err != nil {
		return err
	}
	w.servers.Store(servers)

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
	bg.Add(4)
	w.triggers.live(ctx)
	go func() { defer bg.Done(); w.triggers.Boot(ctx) }()
	go func() { defer bg.Done(); w.watchLooks(ctx) }()
	go func() { defer bg.Done(); w.restart.run(ctx) }()
	go func() { defer bg.Done(); w.watchDrops(ctx) }()
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

// The task servers' polls (servers.go). Idle: one server looking every 2.5 s or so, for
// tasks nobody in this process knew about (queued by `reconciler enqueue`, retries). Boosted
// (this process runs a task, or queued or ran one in the last boostIdle, or a delayed look
// is about due): a second server looking every few milliseconds, so a recovery's reconcile
// and restores start at once.
//
// What an idle worker costs Redis, per second (INFO commandstats, scripts' inner commands
// counted): the dequeue, 3 commands per queue per check (2 queues): 2.4 at 2.5 s; the forwarder, 2
// per queue and set per check: 1.6 at 5 s; the aggregator, one SMEMBERS per queue per
// check (its interval is the grace period): 0.4 at 5 s; asynq's heartbeat, 6 every 5 s (fixed):
// 1.2; the janitor, 4 per check: 0.13 at 30 s; plus the restart watcher's sentinel (1), the look
// watch (0.5) and the drop watch (1). About 9 in all, against 22 with the intervals of a second.
const (
	idleTaskCheckInterval        = 2500 * time.Millisecond
	idleDelayedTaskCheckInterval = 5 * time.Second
	idleJanitorInterval          = 30 * time.Second
	// The always-on server aggregates only groups nobody here is boosted for (a process that
	// queued a look into a group and died): with GroupMaxDelay 2 s, within 2-7 s.
	idleGroupGracePeriod   = 5 * time.Second
	boostTaskCheckInterval = 20 * time.Millisecond
	boostIdle              = 5 * time.Second
	// While boosted, scheduled tasks (delayed looks, retries) move to pending within 100 ms of
	// their time, and a group of looks is aggregated a second after its last look (at most
	// GroupMaxDelay after its first).
	boostDelayedTaskCheckInterval = 100 * time.Millisecond
	boostGroupGracePeriod         = time.Second
)

// kick starts or extends the boost: this process has work now or in a moment.
func (w *Worker) kick() {
	if s := w.servers.Load(); s != nil {
		s.Kick()
	}
}

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
	opts := &asynq.SchedulerOpts{Location: w.cfg.Location, Logger: asynqLogger{w.log, w.outage.Quiet}, LogLevel: asynq.WarnLevel,
		// The tick's reconcile starts at once (the boost), not at the always-on server's poll.
		PostEnqueueFunc: func(_ *asynq.TaskInfo, err error) {
			if err == nil {
				w.kick()
			}
		}}
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

// Enqueue queues a reconcile with the configured deadline (POST /reconcile).
func (w *Worker) Enqueue(ctx context.Context, p jobs.ReconcilePayload, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	return w.triggers.Enqueue(ctx, p, opts...)
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
