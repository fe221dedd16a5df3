// Package worker is the running process: the asynq servers and their mux, the boot trigger, the
// HTTP endpoints and shutdown. It wires jobs to the parts cmd/reconciler built from the
// configuration; it knows no adapter.
package worker

import (
	"context"
	"time"

	"reconciler/jobs"
	"reconciler/schedules"
)

// Config is what the running process needs, already validated by cmd/reconciler.
type Config struct {
	Rules               jobs.Rules
	Location            *time.Location  // TIMEZONE, for cron specs
	Schedule            *schedules.Spec // nil: RECONCILE_SCHEDULE=off
	Tasks               jobs.Tasks      // makes every task (deadlines, queues, retention)
	RestoreMaxStaleness time.Duration
	ReleaseSettle       time.Duration
	OrphanGrace         time.Duration // ORPHAN_GRACE; 0: off (orphans reported, never released)
	Concurrency         int
	MaxReadsPerMinute   int           // SHEETS_MAX_READS_PER_MINUTE, across replicas
	ShutdownTimeout     time.Duration // how long in-flight tasks may finish before being handed back

	HTTPAddr        string // host:port
	MonitorUser     string
	MonitorPassword string
	// Pprof serves Go's profiler at /debug/pprof/, behind the same basic auth (PPROF=on). Off
	// by default: a profile costs CPU while it runs and says a lot about the process.
	Pprof    bool
	Embedded bool // demo mode: monitor open without a password on 127.0.0.1
}

// Store is the lock keyspace plus what runs leave behind (adapters/redislock), and the shared
// clock (Redis TIME) that snapshots and tombstones are stamped with.
type Store interface {
	jobs.LockStore
	jobs.RunStore
	jobs.TrustStore
	jobs.Clock
	LastReport(ctx context.Context) ([]byte, error)
	// WriteTombstone stamps a release of tag with Redis's clock.
	WriteTombstone(ctx context.Context, tag string) error
	// ClearTombstone removes tag's tombstone if it is older than the lock key's current set.
	ClearTombstone(ctx context.Context, tag string) (bool, error)
	Records
	// The history (append from Go, read newest first) and one spool's state, for explain.
	jobs.HistoryWriter
	jobs.HistoryReader
	jobs.SpoolReader
}
