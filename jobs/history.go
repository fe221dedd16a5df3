package jobs

import (
	"context"
	"time"
)

// History actions: what the worker did (or refused, or held) about one spool. Every write,
// deletion, refusal and hold goes to the history (docs/design.md, "Explaining a spool"), in the
// same atomic step as the action where the action is a script.
const (
	ActionRestored  = "restored"  // a missing lock written back (restore script)
	ActionRefused   = "refused"   // a restore decided against; Detail starts with the outcome
	ActionRetracted = "retracted" // a restored lock taken back: a fresh snapshot did not back it
	ActionReleased  = "released"  // an orphan lock deleted after ORPHAN_GRACE
	ActionHeld      = "held"      // a restore or deletion not made: the snapshot was suspect as a whole
	ActionVerified  = "verified"  // a restored lock confirmed by a fresh snapshot (its marker dropped)
	ActionReplaced  = "replaced"  // a restored lock swapped for the row's own occupation (replace script)
	// ActionTTLFollowUp: a lock with a TTL on a taken spool was left alone and a look asked for
	// when its TTL ends (the backend's SET NX EX whose PERSIST never came, or one in flight).
	ActionTTLFollowUp = "ttl_follow_up"
	// ActionReleaseSeen: the lock key was deleted (by the backend, mostly) and the tombstone
	// that refuses restores for RELEASE_SETTLE was written (write_tombstone.lua).
	ActionReleaseSeen = "release_seen"
)

// HistoryEntry is one entry of the history stream.
type HistoryEntry struct {
	ID      string    // the stream entry's ID ("" before it is written)
	At      time.Time // Redis's clock when the entry was written (the ID's time)
	Tag     string
	Action  string
	Value   string // the lock value the action was about ("" when none)
	RunID   string
	Trigger string
	Detail  string // the reason, in a few words (a refusal starts with its outcome)
}

// HistoryNote is what an action's caller knows and the store does not: which run, which
// trigger, and why. Methods that act on a lock take one and write the entry in the same step.
type HistoryNote struct {
	RunID   string
	Trigger string
	Detail  string
}

// HistoryWriter appends entries from Go, for actions that are not a script (a script writes
// its own entry, in the same step as its action).
type HistoryWriter interface {
	AppendHistory(ctx context.Context, entries ...HistoryEntry) error
}

// HistoryQuery selects entries: newest first, at most Limit (0: no limit), of Tag only when
// set, none older than Since when set.
type HistoryQuery struct {
	Tag   string
	Since time.Time
	Limit int
}

// HistoryReader reads the history, newest first. It writes nothing.
type HistoryReader interface {
	History(ctx context.Context, q HistoryQuery) ([]HistoryEntry, error)
}

// SuspectReader says whether the sheet is currently judged suspect as a whole (while it is, the
// worker writes nothing): the cluster's recorded state (TrustStore.Suspect, in Redis), and
// false when none is recorded. Reading it writes nothing.
type SuspectReader interface {
	Suspect(ctx context.Context) (SuspectState, bool, error)
}

// NotSuspect is the SuspectReader used where none is wired: the sheet is never suspect.
type NotSuspect struct{}

func (NotSuspect) Suspect(context.Context) (SuspectState, bool, error) {
	return SuspectState{}, false, nil
}

// SpoolState is what Redis holds about one spool, read in one step without writing.
type SpoolState struct {
	Lock *Lock
	TTL  time.Duration // the lock's TTL; -1 when it has none (persistent)
	// Sighting, Tombstone (the release time) and Marker are nil when absent.
	Sighting  *OrphanSighting
	Tombstone *time.Time
	Marker    *RestoreMarker
}

// SpoolReader reads one spool's state.
type SpoolReader interface {
	SpoolState(ctx context.Context, tag string) (SpoolState, error)
}
