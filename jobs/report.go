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
	// (drift: a run releases them, unless the sheet is suspect).
	OrphansPastGrace int `json:"orphans_past_grace"`
	OrphansReleased  int `json:"orphans_released"`
	// ExpiringLocks are locks with a TTL on a spool the sheet says is taken: an acquisition in
	// flight, or one whose PERSIST never came. Never touched; looked at again when the TTL ends.
	ExpiringLocks int `json:"expiring_locks"`
	// RetractionsDue are restored locks a fresh snapshot no longer backs, past RELEASE_SETTLE
	// (drift: a run retracts them, unless the sheet is suspect; Retracted says it did).
	RetractionsDue int `json:"retractions_due"`
	// Retracted are restored locks taken back (deleted): a fresh snapshot no longer backed them.
	Retracted int `json:"retracted"`
	// Replaced are restored locks a fresh snapshot showed to be another occupation's: swapped
	// in one step for the row's own lock (never deleted first), so the key was never empty.
	Replaced int `json:"replaced"`
	// SheetSuspect says the snapshot was judged suspect as a whole (JudgeTrust): the run wrote
	// nothing, restores and deletions alike. SuspectReason says why and SuspectExamples lists
	// some of the occupations it lost.
	SheetSuspect    bool     `json:"sheet_suspect"`
	SuspectReason   string   `json:"suspect_reason,omitempty"`
	SuspectExamples []string `json:"suspect_examples,omitempty"`

	// DeferredUntil is set when the read budget was spent: nothing was read, and one full
	// reconcile is queued for this time (a full dry run when this run was dry).
	DeferredUntil *time.Time `json:"deferred_until,omitempty"`

	SheetsRequests int       `json:"sheets_requests"`
	Problems       []Problem `json:"problems"`
	ProblemsTotal  int       `json:"problems_total"`
}

// Drift says whether Redis disagreed with the sheet when the run looked: a spool the sheet
// says is taken has no lock or somebody else's, a lock has stayed unbacked by the sheet for
// ORPHAN_GRACE or more, or a lock the worker restored is no longer backed past RELEASE_SETTLE
// (it would be retracted), or the sheet is suspect as a whole (it and Redis disagree, and only
// a person can say which is right). This is the one rule for "in sync" (`plan` exits 3 on drift). Orphans
// younger than ORPHAN_GRACE are not drift: the backend writes the lock before the row, so a
// fresh lock is briefly unbacked.
func (r *Report) Drift() bool {
	return r.SheetSuspect || r.Missing > 0 || r.HolderMismatch > 0 || r.OrphansPastGrace > 0 || r.RetractionsDue > 0
}

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

// CountGroup says what a count counts, which decides where it is shown.
type CountGroup string

const (
	CountClass   CountGroup = "class"   // rows by class (printed on the rows line; reconciler_rows)
	CountWarning CountGroup = "warning" // candidate rows by warning (likewise)
	CountLocks   CountGroup = "locks"   // what the run found and did in Redis
)

// Count is one count of a report.
type Count struct {
	Name    string // the Report's JSON field name, also the log key and the metric label
	Value   int
	Group   CountGroup
	Summary bool // shown in /readyz's summary of the last report
}

// Counts lists the report's counts in the order every view shows them: the log line, the
// printed report, /readyz's summary and the metrics all derive from this list, so a new count
// is its Report field plus one line here (a test checks that none is left out).
func (r *Report) Counts() []Count {
	return []Count{
		{string(ClassCandidate), r.Candidate, CountClass, true},
		{string(ClassFree), r.Free, CountClass, false},
		{string(ClassTooOld), r.TooOld, CountClass, false},
		{string(ClassInvalidTag), r.InvalidTag, CountClass, false},
		{string(ClassInvalidHolder), r.InvalidHolder, CountClass, false},
		{string(ClassInvalidDate), r.InvalidDate, CountClass, false},
		{string(ClassDuplicateTag), r.DuplicateTag, CountClass, false},
		{string(WarnMissingDate), r.MissingDate, CountWarning, false},
		{string(WarnFutureDate), r.FutureDate, CountWarning, false},
		{"missing", r.Missing, CountLocks, true},
		{"enqueued", r.Enqueued, CountLocks, true},
		{"already_queued", r.AlreadyQueued, CountLocks, false},
		{"already_locked", r.AlreadyLocked, CountLocks, false},
		{"holder_mismatch", r.HolderMismatch, CountLocks, true},
		{"orphan_locks", r.OrphanLocks, CountLocks, true},
		{"orphans_past_grace", r.OrphansPastGrace, CountLocks, true},
		{"orphans_released", r.OrphansReleased, CountLocks, true},
		{"expiring_locks", r.ExpiringLocks, CountLocks, false},
		{"retractions_due", r.RetractionsDue, CountLocks, false},
		{"retracted", r.Retracted, CountLocks, true},
		{"replaced", r.Replaced, CountLocks, true},
	}
}

// ClassCounts returns the per-class and per-warning counts by name (the reconciler_rows metric).
func (r *Report) ClassCounts() map[string]int {
	out := make(map[string]int)
	for _, c := range r.Counts() {
		if c.Group == CountClass || c.Group == CountWarning {
			out[c.Name] = c.Value
		}
	}
	return out
}
