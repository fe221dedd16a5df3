package worker

import (
	"context"
	"time"
)

// The worker's own small records in Redis. adapters/redislock names every key and runs every
// command on them; the worker only says what it needs.

// PendingMarks is the mark of a full reconcile that is queued and has not started reading.
type PendingMarks interface {
	// MarkPending sets the mark unless it is set; true when this call set it.
	MarkPending(ctx context.Context, trigger string, ttl time.Duration) (bool, error)
	ClearPending(ctx context.Context) error
}

// RestartRecords are what the restart watcher compares and repairs.
type RestartRecords interface {
	// Sentinel is the run_id the workers last saw, "" when the key is gone.
	Sentinel(ctx context.Context) (string, error)
	SetSentinel(ctx context.Context, runID string) error
	// RegisterQueues re-registers asynq's queues (a Redis that restarted empty lost them).
	RegisterQueues(ctx context.Context, names ...string) error
}

// SheetsReads is the cluster-wide Sheets read budget's counter.
type SheetsReads interface {
	// TakeSheetsRead counts one read in now's minute; false (and when the next minute starts)
	// once perMinute is spent.
	TakeSheetsRead(ctx context.Context, perMinute int64, now time.Time) (bool, time.Time, error)
}

// TaskHashes mends asynq task hashes left without a state (see queue).
type TaskHashes interface {
	IsLeftoverTask(ctx context.Context, queue, id string) (bool, error)
	DeleteLeftoverTask(ctx context.Context, queue, id string) (bool, error)
}

// DropWatch is a key nobody writes: a connection blocked on it fails at once when Redis goes
// away (see watchDrops).
type DropWatch interface {
	// WaitOnDropWatch blocks up to d; nil when it timed out, an error when the connection failed.
	WaitOnDropWatch(ctx context.Context, d time.Duration) error
}

// Records is every record above; the lock store implements it.
type Records interface {
	PendingMarks
	RestartRecords
	SheetsReads
	TaskHashes
	DropWatch
}

// readBudget is SHEETS_MAX_READS_PER_MINUTE across every replica (jobs.ReadBudget).
type readBudget struct {
	reads SheetsReads
	max   int64
	now   func() time.Time
}

func (b *readBudget) Take(ctx context.Context) (bool, time.Time, error) {
	return b.reads.TakeSheetsRead(ctx, b.max, b.now())
}
