package jobs

import (
	"sort"
	"time"
)

// Plan is what a reconcile should do, computed from a snapshot, the current locks and now.
type Plan struct {
	Report   Report
	Restores []Classified // candidates whose lock is missing, in sheet order
	Orphans  []Orphan     // locks in scope whose spool is free or absent in the sheet, by tag
	// Backing is how the sheet stands behind each lock in scope (the verify look's question).
	Backing map[string]Backing
	// Judgement is what the run deletes and records about orphans and restore markers; filled
	// by Judge once markers and sightings are read.
	Judgement Judgement
	// Trust is the judgement of the snapshot as a whole (JudgeTrust); a suspect snapshot
	// writes nothing. Filled by the Reconciler when it has a TrustStore.
	Trust Verdict

	locks map[string]Lock // the locks MakePlan was given (Backing says which are in scope)
	// occupations are the snapshot's (all rows, whatever the scope) and accepted what was
	// stored when it was judged: their difference is what accepting the snapshot writes.
	occupations, accepted map[string]string
}

// Orphan is a lock the sheet does not back.
type Orphan struct {
	Tag  string
	Lock Lock
	// FirstSeen is the stored first sighting of this value unbacked; zero when this snapshot
	// is the first to see it (set by Judge).
	FirstSeen time.Time
	// Unbacked is how long it has been unbacked as of the snapshot (0 when first seen now).
	Unbacked time.Duration
}

// Backing says how the sheet's row stands behind a lock.
type Backing int

const (
	// Unbacked: the row is free or absent. The lock is an orphan.
	Unbacked Backing = iota
	// OtherOccupation: the row is a candidate of another worker, or of the same worker at
	// another occupation time (retaken in degraded mode, say).
	OtherOccupation
	// Unreadable: the row says taken but the rules cannot read it (invalid, too old). Such a
	// lock is never deleted: nothing shows that the occupation ended.
	Unreadable
	// Exact: the row is a candidate of the lock's worker at the lock's occupation time (any
	// time, for a row without a date: its lock was stamped with the time of its restore).
	Exact
)

// Scope limits a plan to some tags; an empty scope is the whole sheet.
type Scope []string

func (s Scope) full() bool { return len(s) == 0 }

func (s Scope) set() map[string]struct{} {
	m := make(map[string]struct{}, len(s))
	for _, t := range s {
		m[t] = struct{}{}
	}
	return m
}

// MakePlan is the pure planner: rows + locks + now → plan. locks must hold the current lock of
// every tag in scope; for a full scope it must be every lock. Orphans are the locks in scope
// without a taken row: in a targeted scope, a tag with a lock and no taken row is one too. The
// report's run metadata (ids, times, requests) is left to the caller.
func MakePlan(rows []Row, locks map[string]Lock, now time.Time, rules Rules, scope Scope) Plan {
	p := Plan{locks: locks}
	inScope := scope.set()
	// Only locked tags matter for backing: a map of every taken row would be garbage.
	rowOf := make(map[string]Classified, len(locks))
	ClassifyEach(rows, now, rules, func(c Classified) {
		if !scope.full() {
			if _, ok := inScope[c.Tag]; !ok {
				return
			}
		}
		p.Report.Rows++
		p.Report.count(c)
		if c.Class != ClassDuplicateTag && c.Tag != "" {
			if _, locked := locks[c.Tag]; locked {
				rowOf[c.Tag] = c
			}
		}
		if c.Class == ClassCandidate {
			p.planCandidate(c, locks)
		} else if d := c.Detail(); d != "" {
			p.Report.addProblem(Problem{Row: c.Number, Tag: c.Tag, Class: string(c.Class), Detail: d})
		}
	})
	p.Backing = make(map[string]Backing, len(locks))
	for tag, lock := range locks {
		if _, ok := inScope[tag]; !scope.full() && !ok {
			continue
		}
		row, found := rowOf[tag]
		b := backingOf(row, found, lock)
		p.Backing[tag] = b
		if b == Unbacked {
			p.Orphans = append(p.Orphans, Orphan{Tag: tag, Lock: lock})
		}
	}
	sort.Slice(p.Orphans, func(i, j int) bool { return p.Orphans[i].Tag < p.Orphans[j].Tag })
	p.Report.OrphanLocks = len(p.Orphans)
	return p
}

// backingOf judges a lock against the first row of its tag (found false: no row).
func backingOf(row Classified, found bool, lock Lock) Backing {
	switch {
	case !found || row.Class == ClassFree:
		return Unbacked
	case row.Class != ClassCandidate:
		return Unreadable
	case row.WorkerID != lock.WorkerID:
		return OtherOccupation
	case row.Warning == WarnMissingDate:
		return Exact
	case lock.At.IsZero() || !sameWallClock(row.OccupiedAt, lock.At):
		return OtherOccupation
	}
	return Exact
}

// sameWallClock compares to the second, as wall clocks in b's zone (lock values carry the
// wall clock in TIMEZONE, without seconds' fractions; comparing instants would split the
// repeated hour at a daylight-saving change).
func sameWallClock(a, b time.Time) bool {
	const layout = "2006-01-02 15:04:05"
	return a.In(b.Location()).Format(layout) == b.Format(layout)
}

func (p *Plan) planCandidate(c Classified, locks map[string]Lock) {
	if c.Warning != "" {
		p.Report.addProblem(Problem{Row: c.Number, Tag: c.Tag, Class: string(c.Warning), Detail: c.Detail()})
	}
	lock, locked := locks[c.Tag]
	switch {
	case !locked:
		p.Report.Missing++
		p.Restores = append(p.Restores, c)
	case lock.WorkerID == c.WorkerID:
		p.Report.AlreadyLocked++
	default:
		p.Report.HolderMismatch++
		p.Report.addProblem(Problem{Row: c.Number, Tag: c.Tag, Class: string(OutcomeHolderMismatch),
			Detail: "Redis holds " + quote(lock.Value) + " but the sheet says " + quote(c.Holder)})
	}
}
