package jobs

import "time"

// MaxProblems bounds the problem list of a report; the counts stay exact.
const MaxProblems = 50

// Problem is one reported row.
type Problem struct {
	Row    int    `json:"row"`
	Tag    string `json:"tag"`
	Class  string `json:"class"`
	Detail string `json:"detail"`
}

// Report is what one reconcile did. It is the reconcile task's result (visible in asynqmon),
// one log line, and the value of reconciler:last_report.
type Report struct {
	RunID      string    `json:"run_id"`
	Trigger    string    `json:"trigger"`
	Spools     []string  `json:"spools,omitempty"` // scope of a targeted run; empty = full
	DryRun     bool      `json:"dry_run"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	SnapshotAt time.Time `json:"snapshot_at"`
	Rows       int       `json:"rows"`

	Free          int `json:"free"`
	Candidate     int `json:"candidate"`
	TooOld        int `json:"too_old"`
	InvalidTag    int `json:"invalid_tag"`
	InvalidHolder int `json:"invalid_holder"`
	InvalidDate   int `json:"invalid_date"`
	DuplicateTag  int `json:"duplicate_tag"`
	MissingDate   int `json:"missing_date"`
	FutureDate    int `json:"future_date"`

	Missing        int `json:"missing"`
	Enqueued       int `json:"enqueued"`
	AlreadyQueued  int `json:"already_queued"`
	AlreadyLocked  int `json:"already_locked"`
	HolderMismatch int `json:"holder_mismatch"`
	OrphanLocks    int `json:"orphan_locks"`
	// OrphansPastGrace are orphans unbacked with the same value for at least ORPHAN_GRACE
	// (drift: a run releases them, unless the safety valve holds it).
	OrphansPastGrace int `json:"orphans_past_grace"`
	OrphansReleased  int `json:"orphans_released"`
	// Retracted are restored locks taken back: a fresh snapshot no longer backed them.
	Retracted int `json:"retracted"`
	// DeletionsHeld is set when the safety valve kept the run from deleting anything, and
	// HeldReason says why (see ValveHolds).
	DeletionsHeld int    `json:"deletions_held,omitempty"`
	HeldReason    string `json:"held_reason,omitempty"`

	// DeferredUntil is set when the read budget was spent: nothing was read, and one full
	// reconcile is queued for this time.
	DeferredUntil *time.Time `json:"deferred_until,omitempty"`

	SheetsRequests int       `json:"sheets_requests"`
	Problems       []Problem `json:"problems"`
	ProblemsTotal  int       `json:"problems_total"`
}

// Drift says whether Redis disagreed with the sheet when the run looked: a spool the sheet
// says is taken has no lock or somebody else's, or a lock has stayed unbacked by the sheet for
// ORPHAN_GRACE or more. This is the one rule for "in sync" (`plan` exits 3 on drift). Orphans
// younger than ORPHAN_GRACE are not drift: the backend writes the lock before the row, so a
// fresh lock is briefly unbacked.
func (r *Report) Drift() bool { return r.Missing > 0 || r.HolderMismatch > 0 || r.OrphansPastGrace > 0 }

func (r *Report) count(c Classified) {
	switch c.Class {
	case ClassFree:
		r.Free++
	case ClassCandidate:
		r.Candidate++
	case ClassTooOld:
		r.TooOld++
	case ClassInvalidTag:
		r.InvalidTag++
	case ClassInvalidHolder:
		r.InvalidHolder++
	case ClassInvalidDate:
		r.InvalidDate++
	case ClassDuplicateTag:
		r.DuplicateTag++
	}
	switch c.Warning {
	case WarnMissingDate:
		r.MissingDate++
	case WarnFutureDate:
		r.FutureDate++
	}
}

func (r *Report) addProblem(p Problem) {
	r.ProblemsTotal++
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// ClassCounts returns the per-class and per-warning counts by name (for metrics and logs).
func (r *Report) ClassCounts() map[string]int {
	return map[string]int{
		string(ClassFree): r.Free, string(ClassCandidate): r.Candidate, string(ClassTooOld): r.TooOld,
		string(ClassInvalidTag): r.InvalidTag, string(ClassInvalidHolder): r.InvalidHolder,
		string(ClassInvalidDate): r.InvalidDate, string(ClassDuplicateTag): r.DuplicateTag,
		string(WarnMissingDate): r.MissingDate, string(WarnFutureDate): r.FutureDate,
	}
}
