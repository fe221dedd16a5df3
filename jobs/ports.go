package jobs

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
)

// SheetReader reads the Operaciones sheet. Implementations must honour ctx (its deadline is
// the reconcile job's) in every request and retry.
type SheetReader interface {
	Read(ctx context.Context) (Snapshot, error)
}

// Clock is the one clock every replica shares: Redis's TIME (adapters/redislock). A snapshot is
// stamped with it just before the sheet request, classification measures ages from that
// instant, and the restore and tombstone scripts read the same clock, so replicas whose own
// clocks are skewed agree on every window (staleness, the release settle, too old). Reading
// it writes nothing.
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}

// LockStore is the lock keyspace in Redis.
type LockStore interface {
	// Locks returns the current locks of the given tags (absent tags are absent from the map),
	// in as few round trips as possible.
	Locks(ctx context.Context, tags []string) (map[string]Lock, error)
	// AllLocks scans every lock key (for the orphan report).
	AllLocks(ctx context.Context) (map[string]Lock, error)
	// CountLocks counts the lock keys without reading them (a targeted run with nothing
	// accepted and an empty sheet asks how many locks exist: see JudgeTrust).
	CountLocks(ctx context.Context) (int, error)
	// Restore runs the atomic decide-and-write step; a restored lock gets its RestoreMarker in
	// the same step.
	Restore(ctx context.Context, req RestoreRequest) (RestoreOutcome, error)
	// RestoreBatch runs the same step for each request in one atomic call per lock, all in
	// one round trip; outcomes in the requests' order. Requests share the rules and RunID.
	RestoreBatch(ctx context.Context, reqs []RestoreRequest) ([]RestoreOutcome, error)
	// DeleteLock deletes the lock of tag only while it still holds value (compare-and-delete),
	// and with it the tag's restore marker and orphan sighting, and appends action (with the
	// note) to the history, in one atomic step. It reports whether it deleted the lock.
	DeleteLock(ctx context.Context, tag, value, action string, note HistoryNote) (bool, error)
	// ReplaceLock swaps the lock of tag for a new lock of another occupation (a fresh value of
	// req's worker and time, persistent) only while the key still holds old (compare-and-set),
	// in one atomic step that also writes the new value's RestoreMarker, drops the tag's orphan
	// sighting and appends a `replaced` entry with the note to the history: the key is never
	// empty. It returns the value written, and whether it swapped. Only req's Tag, WorkerID,
	// OccupiedAt and Settle are used.
	ReplaceLock(ctx context.Context, old string, req RestoreRequest, note HistoryNote) (string, bool, error)

	// Markers returns the restore markers of tags (absent or unreadable: absent from the map).
	Markers(ctx context.Context, tags []string) (map[string]RestoreMarker, error)
	// DropMarker removes tag's marker only while it is still m (a newer restore keeps its own).
	DropMarker(ctx context.Context, tag string, m RestoreMarker) error

	// OrphanSightings returns the stored sightings of tags; nil tags means every sighting.
	OrphanSightings(ctx context.Context, tags []string) (map[string]OrphanSighting, error)
	// UpdateOrphans records new sightings (kept where the stored one has the same value: the
	// earliest first-seen wins) and forgets others (only while they are unchanged), atomically.
	UpdateOrphans(ctx context.Context, record, forget map[string]OrphanSighting) error
}

// TrustStore keeps what judging a snapshot as a whole needs across replicas and restarts
// (docs/design.md, "Trusting a snapshot"): the last accepted snapshot's occupations and the
// suspect state.
type TrustStore interface {
	// Accepted reads the last accepted snapshot (Present false when there is none). Its
	// occupations may be shared with later calls: callers only read them.
	Accepted(ctx context.Context) (Accepted, error)
	// Accept makes a snapshot's occupations the accepted ones and stamps at as both its
	// acceptance and the last judgement, in one atomic step; it keeps occupations, which the
	// caller no longer changes. A run whose occupations are those Accepted returned (and not
	// to Migrate) calls Judged instead (SameOccupations): nothing else changed.
	Accept(ctx context.Context, occupations map[string]string, at time.Time) error
	// Judged stamps a judgement that accepted nothing (a suspect snapshot): the accepted
	// snapshot stays current rather than ageing out while the sheet is wrong.
	Judged(ctx context.Context, at time.Time) error
	// SetSuspect records the suspect state unless it is already recorded; true when this call
	// began it (exactly one process, across replicas, sees true).
	SetSuspect(ctx context.Context, s SuspectState) (bool, error)
	// ClearSuspect removes the suspect state; it returns the state removed and true when this
	// call ended it (exactly one process sees true).
	ClearSuspect(ctx context.Context) (SuspectState, bool, error)
	// Suspect reads the suspect state; false when the sheet is trusted.
	Suspect(ctx context.Context) (SuspectState, bool, error)
}

// RunStore keeps what runs leave behind for people and for `enqueue --wait`.
type RunStore interface {
	SaveReport(ctx context.Context, report []byte) error
	// AddTally adds to a run's tally. Restore outcomes are counted by LockStore.Restore itself
	// (RestoreRequest.RunID); this is for what happens outside it ("failed").
	AddTally(ctx context.Context, runID, field string, n int64) error
}

// Queue is where the reconcile pushes restore tasks (an *asynq.Client) and how it looks at a
// TaskID that is already taken (an *asynq.Inspector).
type Queue interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// Observer receives what metrics need. Nil-safe use goes through observe().
type Observer interface {
	RunFinished(trigger, outcome string, took time.Duration, report *Report)
	RestoreFinished(outcome RestoreOutcome)
}

type noObserver struct{}

func (noObserver) RunFinished(string, string, time.Duration, *Report) {}
func (noObserver) RestoreFinished(RestoreOutcome)                     {}

// Retrigger asks for a reconcile of some spools soon; requests that arrive together are
// coalesced into one run (one sheet read).
type Retrigger interface {
	TriggerTags(ctx context.Context, trigger string, tags ...string) error
	// TriggerTagsAt is TriggerTags at a later time (a restore's verification, an orphan's
	// grace ending); looks due together are coalesced the same way.
	TriggerTagsAt(ctx context.Context, trigger string, at time.Time, tags ...string) error
}

// ReadBudget is the cluster-wide Sheets read budget (SHEETS_MAX_READS_PER_MINUTE).
type ReadBudget interface {
	// Take uses one read; when the budget is spent it returns false and when the next read is
	// allowed.
	Take(ctx context.Context) (ok bool, next time.Time, err error)
}

// PendingMarker coalesces automatic full reconciles: while one is queued and not yet started,
// further triggers are covered by it. A run clears the mark when it starts reading, so a
// trigger that arrives during the run queues exactly one follow-up.
type PendingMarker interface {
	ClearPending(ctx context.Context) error
}
