package jobs

import "time"

// Lock is a lock key's current value, parsed where it has the backend's format.
type Lock struct {
	Value    string
	WorkerID int       // 0 when the value does not start with "{id}:"
	At       time.Time // the value's timestamp; zero when unparseable
	// TTL is the time the key had left to live when it was read; 0 for a persistent key (the
	// backend's locks are persistent once its PERSIST has come).
	TTL time.Duration
}

// RestoreRequest is everything the atomic restore step needs to decide and write. It carries no
// "now": the step reads the shared Clock itself, at the moment it decides.
type RestoreRequest struct {
	Tag        string
	WorkerID   int
	OccupiedAt time.Time     // written into the value in TIMEZONE's wall clock
	SnapshotAt time.Time     // Report.SnapshotAt of the reconcile that planned this restore (Clock time)
	MaxAge     time.Duration // MAX_LOCK_AGE
	Staleness  time.Duration // RESTORE_MAX_STALENESS
	Settle     time.Duration // RELEASE_SETTLE
	// RunID, when set, is the run whose tally counts the outcome, in the same atomic step.
	RunID string
	// Trigger is the run's trigger, recorded with the outcome in the history.
	Trigger string
}

// RestoreOutcome is the decision of one restore.
type RestoreOutcome string

const (
	OutcomeRestored         RestoreOutcome = "restored"
	OutcomeAlreadyLocked    RestoreOutcome = "already_locked"
	OutcomeHolderMismatch   RestoreOutcome = "holder_mismatch"
	OutcomeRecentlyReleased RestoreOutcome = "recently_released"
	OutcomeStaleSnapshot    RestoreOutcome = "stale_snapshot"
	OutcomeTooOld           RestoreOutcome = "too_old"
)

// RestoreOutcomes lists every outcome, in report order.
var RestoreOutcomes = []RestoreOutcome{
	OutcomeRestored, OutcomeAlreadyLocked, OutcomeHolderMismatch,
	OutcomeRecentlyReleased, OutcomeStaleSnapshot, OutcomeTooOld,
}

// RestoreMarker is what a restore leaves beside the lock it wrote (field TAG of reconciler:restored):
// the value and when it was written, until a look from a fresh snapshot has verified it.
type RestoreMarker struct {
	Value string
	At    time.Time
}

// OrphanSighting is the stored first time a tag's lock was seen unbacked by the sheet while it
// held Value. A tag seen backed again, or holding another value, starts over.
type OrphanSighting struct {
	Value     string
	FirstSeen time.Time
}
