package jobs

import (
	"fmt"
	"strings"
	"time"
)

// Verdict is what explain makes of one spool (docs/design.md, "Explaining a spool").
type Verdict string

const (
	VerdictInSync           Verdict = "in_sync"           // the lock is the row's occupation
	VerdictMissing          Verdict = "missing"           // row taken, no lock: a restore is due
	VerdictOrphan           Verdict = "orphan"            // lock, row free or absent
	VerdictOtherHolder      Verdict = "other_holder"      // lock of another occupation than the row's
	VerdictRecentlyReleased Verdict = "recently_released" // released moments ago: restore refused for now
	VerdictSuspectSheet     Verdict = "suspect_sheet"     // the sheet is suspect: nothing is written
	VerdictFree             Verdict = "free"              // row free, no lock
	VerdictNotRestorable    Verdict = "not_restorable"    // row taken but too old or unreadable
	VerdictUnknown          Verdict = "unknown"           // no row and no lock
)

// Verdicts lists every verdict.
var Verdicts = []Verdict{VerdictInSync, VerdictMissing, VerdictOrphan, VerdictOtherHolder,
	VerdictRecentlyReleased, VerdictSuspectSheet, VerdictFree, VerdictNotRestorable, VerdictUnknown}

// Drift says whether explain exits 3 for this verdict: the spool's lock disagrees with what
// the sheet says, or cannot be made to agree now (a person may have to look). in_sync, free
// and unknown (nothing in the sheet, nothing in Redis: a typo, most likely) exit 0.
func (v Verdict) Drift() bool {
	switch v {
	case VerdictInSync, VerdictFree, VerdictUnknown:
		return false
	}
	return true
}

// Next actions.
const (
	NextRestore = "restore"
	NextRelease = "release"
	NextRetract = "retract"
	NextLook    = "look"
	NextNone    = "none"
)

// ExplainHistoryLimit is how many of a tag's newest history entries explain shows.
const ExplainHistoryLimit = 20

// ExplainInput is everything the verdict depends on; ExplainSpool is pure over it.
type ExplainInput struct {
	Tag  string       // as the worker matches it: trimmed
	Rows []Classified // the tag's rows in sheet order, classified over the whole sheet (the first decides; the others are duplicate_tag)
	// State is what Redis holds about the spool.
	State   SpoolState
	Suspect bool      // the sheet is suspect as a whole
	Now     time.Time // the shared clock (Redis TIME), also the snapshot's time
	Settle  time.Duration
	Grace   time.Duration // ORPHAN_GRACE; 0: off
	Rules   Rules         // the classification rules (a duplicate row backs a lock by its own class)
	// NextRun is when the next full reconcile is due (RECONCILE_SCHEDULE); zero: unknown or off.
	NextRun  time.Time
	History  []HistoryEntry // the tag's newest entries, newest first
	Location *time.Location // the zone times are shown in (TIMEZONE); nil: UTC
}

// Explanation is explain's answer; its JSON is the contract's, fixed: every field is always
// present, null where nothing applies.
type Explanation struct {
	Tag            string        `json:"tag"`
	Verdict        Verdict       `json:"verdict"`
	Summary        string        `json:"summary"`
	Next           NextStep      `json:"next"`
	Sheet          SheetView     `json:"sheet"`
	Lock           *LockView     `json:"lock"`
	Orphan         *OrphanView   `json:"orphan"`
	TombstoneUntil *time.Time    `json:"tombstone_until"`
	RestoreMarker  *MarkerView   `json:"restore_marker"`
	SheetSuspect   bool          `json:"sheet_suspect"`
	History        []HistoryView `json:"history"`
}

// NextStep is what the worker will do about the spool next, and when (nil: at the next
// reconcile, whose time is not known, or never for "none").
type NextStep struct {
	Action string     `json:"action"`
	At     *time.Time `json:"at"`
}

// SheetView holds the tag's rows.
type SheetView struct {
	Rows []RowView `json:"rows"`
}

// RowView is one row of the tag.
type RowView struct {
	Row        int        `json:"row"`
	Holder     string     `json:"holder"`
	OccupiedAt *time.Time `json:"occupied_at"`
	Class      string     `json:"class"`
}

// LockView is the lock key's value, parsed.
type LockView struct {
	Value      string     `json:"value"`
	WorkerID   *int       `json:"worker_id"`
	OccupiedAt *time.Time `json:"occupied_at"`
	TTLMs      int64      `json:"ttl_ms"` // -1: no TTL (persistent)
}

// OrphanView is the stored first sighting of the lock unbacked, and when it is released.
type OrphanView struct {
	FirstSeen *time.Time `json:"first_seen"`
	ReleaseAt *time.Time `json:"release_at"`
}

// MarkerView is a restore marker and when its verifying look comes.
type MarkerView struct {
	Value    string    `json:"value"`
	At       time.Time `json:"at"`
	VerifyAt time.Time `json:"verify_at"`
}

// HistoryView is one history entry.
type HistoryView struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	Value   string    `json:"value"`
	RunID   string    `json:"run_id"`
	Trigger string    `json:"trigger"`
	Detail  string    `json:"detail"`
}

// ExplainSpool is the pure verdict: one spool's rows, Redis state, the suspect flag, the
// settings and now → the explanation. The first row of the tag decides, as for the planner.
func ExplainSpool(in ExplainInput) Explanation {
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		v := t.In(loc).Truncate(time.Millisecond)
		return &v
	}
	e := Explanation{Tag: in.Tag, Next: NextStep{Action: NextNone}, Sheet: SheetView{Rows: []RowView{}},
		SheetSuspect: in.Suspect, History: []HistoryView{}}
	for _, r := range in.Rows {
		v := RowView{Row: r.Number, Holder: strings.TrimSpace(r.Holder), Class: string(r.Class)}
		if r.DateState == DateValid {
			v.OccupiedAt = at(r.Row.OccupiedAt)
		}
		e.Sheet.Rows = append(e.Sheet.Rows, v)
	}
	for _, h := range in.History {
		e.History = append(e.History, HistoryView{At: *at(h.At), Action: h.Action, Value: h.Value,
			RunID: h.RunID, Trigger: h.Trigger, Detail: h.Detail})
	}
	st := in.State
	if st.Lock != nil {
		lv := &LockView{Value: st.Lock.Value, OccupiedAt: at(st.Lock.At), TTLMs: -1}
		if st.Lock.WorkerID > 0 {
			id := st.Lock.WorkerID
			lv.WorkerID = &id
		}
		if st.TTL >= 0 {
			lv.TTLMs = st.TTL.Milliseconds()
		}
		e.Lock = lv
	}
	var releaseAt time.Time
	if st.Lock != nil && st.Sighting != nil && st.Sighting.Value == st.Lock.Value {
		e.Orphan = &OrphanView{FirstSeen: at(st.Sighting.FirstSeen)}
		if in.Grace > 0 {
			releaseAt = st.Sighting.FirstSeen.Add(in.Grace)
			e.Orphan.ReleaseAt = at(releaseAt)
		}
	}
	var tombUntil time.Time
	if st.Tombstone != nil {
		tombUntil = st.Tombstone.Add(in.Settle)
		e.TombstoneUntil = at(tombUntil)
	}
	var verifyAt time.Time
	markerOfLock := false
	if st.Marker != nil {
		verifyAt = st.Marker.At.Add(in.Settle + time.Second)
		e.RestoreMarker = &MarkerView{Value: st.Marker.Value, At: *at(st.Marker.At), VerifyAt: *at(verifyAt)}
		markerOfLock = st.Lock != nil && st.Lock.Value == st.Marker.Value
	}

	// The first row decides; a spool without a row is judged as free (absent).
	var row Classified
	hasRow := len(in.Rows) > 0
	if hasRow {
		row = in.Rows[0]
	}
	clock := func(t time.Time) string { return t.In(loc).Format("02-01-2006 15:04:05") }
	nextRun := func() *time.Time { return at(in.NextRun) }
	whenNextRun := "at the next reconcile"
	if !in.NextRun.IsZero() {
		whenNextRun = "at the next reconcile (" + clock(in.NextRun) + ")"
	}
	taken := hasRow && row.Class != ClassFree
	rowSays := func() string {
		s := fmt.Sprintf("the sheet (row %d) says %s took it", row.Number, quote(strings.TrimSpace(row.Holder)))
		if row.DateState == DateValid {
			s += " at " + clock(row.Row.OccupiedAt)
		}
		return s
	}
	lockSays := func() string {
		l := st.Lock
		s := "Redis holds a lock"
		if l.WorkerID > 0 {
			s += fmt.Sprintf(" of worker %d", l.WorkerID)
		}
		if !l.At.IsZero() {
			s += " since " + clock(l.At)
		}
		return s
	}

	switch {
	case st.Lock == nil && !hasRow:
		e.Verdict = VerdictUnknown
		e.Summary = fmt.Sprintf("%s is not in the sheet and has no lock: check the tag (it is matched trimmed, as the sheet shows it).", quote(in.Tag))
	case st.Lock == nil && !taken:
		e.Verdict = VerdictFree
		e.Summary = fmt.Sprintf("%s is free: its row is free and there is no lock.", quote(in.Tag))
	case st.Lock == nil && row.Class != ClassCandidate:
		e.Verdict = VerdictNotRestorable
		e.Summary = fmt.Sprintf("%s has no lock, but %s; the worker does not lock it because %s.", quote(in.Tag), rowSays(), notRestorableWhy(row))
	case st.Lock == nil && !tombUntil.IsZero() && in.Now.Before(tombUntil):
		e.Verdict = VerdictRecentlyReleased
		e.Next = NextStep{Action: NextRestore, At: at(tombUntil)}
		e.Summary = fmt.Sprintf("%s was released at %s and %s, which may be the sheet catching up: if the sheet still says taken at %s, the worker locks it again.",
			quote(in.Tag), clock(*st.Tombstone), rowSays(), clock(tombUntil))
	case st.Lock == nil:
		e.Verdict = VerdictMissing
		e.Next = NextStep{Action: NextRestore, At: nextRun()}
		e.Summary = fmt.Sprintf("%s has no lock although %s: the worker restores the lock %s.", quote(in.Tag), rowSays(), whenNextRun)
	default:
		b := backingOfRows(in.Rows, *st.Lock, in.Now, in.Rules)
		switch {
		case b == Exact || (b == OtherOccupation && row.WorkerID == st.Lock.WorkerID && !markerOfLock):
			e.Verdict = VerdictInSync
			e.Summary = fmt.Sprintf("%s is locked as the sheet says: %s, and %s.", quote(in.Tag), rowSays(), lockSays())
			switch ttlEnd := in.Now.Add(st.TTL + TTLLookMargin); {
			case markerOfLock:
				e.Next = NextStep{Action: NextLook, At: at(verifyAt)}
				e.Summary += " The worker restored this lock and checks it again against a fresh sheet at " + clock(verifyAt) + "."
			case st.TTL > 0:
				// The backend's SET NX EX whose PERSIST has not come (in flight, or lost to a
				// stalled Redis): never made persistent by the worker, looked at when it ends.
				e.Next = NextStep{Action: NextLook, At: at(ttlEnd)}
				e.Summary += fmt.Sprintf(" The lock still has a TTL (%s left): an acquisition in flight, or one whose PERSIST never came. "+
					"The worker leaves it alone and looks again at %s, restoring a persistent lock if it is gone.", st.TTL.Round(time.Millisecond), clock(ttlEnd))
			default:
				e.Summary += " Nothing to do."
			}
		case b == Unreadable:
			e.Verdict = VerdictNotRestorable
			e.Summary = fmt.Sprintf("%s: %s and %s; the worker keeps that lock (it never deletes a lock whose row says taken) but would not restore it, because %s.",
				quote(in.Tag), lockSays(), rowSays(), notRestorableWhy(row))
		default:
			if b == Unbacked {
				e.Verdict = VerdictOrphan
				where := "its row is free"
				if !hasRow {
					where = "the sheet has no row for it"
				}
				e.Summary = fmt.Sprintf("%s is blocked by a lock the sheet does not back: %s, but %s.", quote(in.Tag), lockSays(), where)
				if e.Orphan == nil {
					e.Orphan = &OrphanView{}
				}
			} else {
				e.Verdict = VerdictOtherHolder
				e.Summary = fmt.Sprintf("%s is locked for another occupation than the sheet's: %s, but %s.", quote(in.Tag), lockSays(), rowSays())
			}
			switch {
			case markerOfLock:
				when := verifyAt
				if in.Now.After(when) {
					when = in.Now
				}
				e.Next = NextStep{Action: NextRetract, At: at(when)}
				e.Summary += " The worker restored that lock itself and takes it back at " + clock(when) + "."
			case !releaseAt.IsZero():
				e.Next = NextStep{Action: NextRelease, At: at(releaseAt)}
				if in.Now.Before(releaseAt) {
					e.Summary += fmt.Sprintf(" It was first seen so at %s; the worker releases it at %s (ORPHAN_GRACE %s).", clock(st.Sighting.FirstSeen), clock(releaseAt), in.Grace)
				} else {
					e.Summary += fmt.Sprintf(" It was first seen so at %s and is past ORPHAN_GRACE (%s): the next look releases it.", clock(st.Sighting.FirstSeen), in.Grace)
				}
			case b.contradicted() && in.Grace > 0:
				e.Next = NextStep{Action: NextLook, At: nextRun()}
				e.Summary += fmt.Sprintf(" No worker has recorded it yet: the next look does, and the lock is released ORPHAN_GRACE (%s) later if the row stays free.", in.Grace)
			case b.contradicted():
				e.Summary += " ORPHAN_GRACE is off: the worker never releases it; delete the key by hand if the spool is done."
			default:
				e.Summary += " The worker never overwrites a lock it did not write: the welder who holds it must release it, or an operator."
			}
		}
	}
	if in.Suspect {
		was := e.Verdict
		e.Verdict = VerdictSuspectSheet
		e.Next = NextStep{Action: NextNone}
		e.Summary = fmt.Sprintf("The sheet as a whole looks wrong right now (too many occupations vanished at once), so the worker changes nothing in Redis until it looks right again or an operator accepts it. Read as usual, %s would be %s: %s",
			quote(in.Tag), was, e.Summary)
	}
	return e
}

// notRestorableWhy explains a taken row the rules do not restore.
func notRestorableWhy(row Classified) string {
	switch row.Class {
	case ClassTooOld:
		return "the occupation is older than MAX_LOCK_AGE (class too_old)"
	case ClassInvalidHolder:
		return "Ocupado_Por does not end with (ID) (class invalid_holder)"
	case ClassInvalidDate:
		return "Fecha_Ocupacion is not a date (class invalid_date)"
	case ClassInvalidTag:
		return "the tag has control characters (class invalid_tag)"
	}
	return "the row's class is " + string(row.Class)
}

// RowsOfTag classifies the whole sheet as the planner does (so duplicates are marked as the
// worker marks them) and returns the rows whose trimmed tag is tag, in sheet order.
func RowsOfTag(rows []Row, tag string, now time.Time, rules Rules) []Classified {
	tag = strings.TrimSpace(tag)
	var out []Classified
	ClassifyEach(rows, now, rules, func(c Classified) {
		if c.Tag == tag && tag != "" {
			out = append(out, c)
		}
	})
	return out
}
