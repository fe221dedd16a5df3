package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/adapters/keyspace"
	"reconciler/worker"
)

func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cf.register(fs, true, true)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	s, err := loadSettings(cf.getenv(getenv), true)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	log, _ := worker.NewLogger(stderr, s.LogLevel, s.LogFormat)
	for _, w := range s.Warnings {
		log.Warn(w)
	}

	if s.Embedded {
		demo, err := startEmbedded(s, log)
		if err != nil {
			fmt.Fprintln(stderr, "reconciler: embedded mode:", err)
			return exitError
		}
		defer demo.Close()
		s.RedisURL, s.SheetCSV = demo.RedisURL(), demo.SheetCSV
		demo.printBanner(stdout, s)
	}

	// go-redis logs through slog, quiet while the worker knows Redis is down (its pool dials
	// at once, before the worker exists: until then it logs at debug).
	var running atomic.Pointer[worker.Worker]
	redis.SetLogger(worker.RedisLogger(log, func() bool {
		w := running.Load()
		return w == nil || w.RedisQuiet()
	}))
	defer redis.SetLogger(worker.RedisLogger(log, nil))

	// One connection per task in flight, plus the reconcile's 8 concurrent enqueues and the
	// dequeue and background loops (heartbeat, forwarder, janitor, ...) of the two task servers.
	rdb, err := connectRedis(s.RedisURL, s.Worker.Concurrency+16)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	defer rdb.Close()
	store := newStore(rdb, s)
	metrics := worker.NewMetrics()
	sheet, err := newSheet(ctx, s, log, metrics.SheetsResponse)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	events := keyspaceEvents{keyspace.New(rdb, keyspace.Options{
		Prefix: s.LockPrefix, Mode: s.KeyspaceMode, Log: log,
		OnUnreachable: func(sent time.Time, err error) {
			if w := running.Load(); w != nil {
				w.RedisUnreachable(sent, err)
			}
		},
	})}
	w := worker.New(s.Worker, log, worker.Parts{Redis: rdb, Sheet: sheet, Store: store, Suspect: store, Metrics: metrics, Events: events})
	running.Store(w)
	log.Info("reconciler starting", "version", buildVersion(), "embedded", s.Embedded,
		"sheet", sheetLabel(s), "lock_prefix", s.LockPrefix, "timezone", s.Location.String(),
		"concurrency", s.Worker.Concurrency, "http", s.Worker.HTTPAddr)
	if err := w.Run(ctx); err != nil {
		log.Error("worker stopped", "err", err)
		return exitError
	}
	return exitOK
}

func sheetLabel(s settings) string {
	if s.SheetCSV != "" {
		return "csv:" + s.SheetCSV
	}
	return fmt.Sprintf("api:%s/%s", s.SheetID, s.SheetName)
}

// keyspaceEvents adapts the keyspace watcher to the worker's EventSource.
type keyspaceEvents struct{ w *keyspace.Watcher }

func (k keyspaceEvents) Run(ctx context.Context, onEvent func(worker.LockEvent), onResubscribed func()) error {
	return k.w.Run(ctx, func(ev keyspace.Event) {
		onEvent(worker.LockEvent{Kind: string(ev.Kind), Tag: ev.Tag, At: ev.At})
	}, onResubscribed)
}
