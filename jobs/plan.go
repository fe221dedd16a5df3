package jobs

import (
	"sort"
	"time"
)

// Plan is what a reconcile should do, computed from a snapshot, the current locks and now.
type Plan struct {
	Report   Report
	Restores []Classified // candidates whose lock is missing, in sheet order
	Orphans  []Orphan     // locks whose spool is free or absent in the sheet
}

// Orphan is a lock the sheet does not back.
type Orphan struct {
	Tag  string
	Lock Lock
}

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
// every candidate tag in scope; for a full scope it must be every lock (orphans are looked for
// only then). The report's run metadata (ids, times, requests) is left to the caller.
func MakePlan(rows []Row, locks map[string]Lock, now time.Time, rules Rules, scope Scope) Plan {
	var p Plan
	inScope := scope.set()
	// Only locked tags matter for orphans: a set of every taken row would be garbage.
	backed := make(map[string]struct{}, len(locks))
	ClassifyEach(rows, now, rules, func(c Classified) {
		if !scope.full() {
			if _, ok := inScope[c.Tag]; !ok {
				return
			}
		}
		p.Report.Rows++
		p.Report.count(c)
		if c.Class != ClassFree && c.Class != ClassDuplicateTag && c.Tag != "" {
			if _, locked := locks[c.Tag]; locked {
				backed[c.Tag] = struct{}{}
			}
		}
		if c.Class == ClassCandidate {
			p.planCandidate(c, locks)
		} else if d := c.Detail(); d != "" {
			p.Report.addProblem(Problem{Row: c.Number, Tag: c.Tag, Class: string(c.Class), Detail: d})
		}
	})
	if scope.full() {
		for tag, lock := range locks {
			if _, ok := backed[tag]; !ok {
				p.Orphans = append(p.Orphans, Orphan{Tag: tag, Lock: lock})
			}
		}
		sort.Slice(p.Orphans, func(i, j int) bool { return p.Orphans[i].Tag < p.Orphans[j].Tag })
		p.Report.OrphanLocks = len(p.Orphans)
	}
	return p
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

// OrphanExpired says whether an orphan may be deleted by ORPHAN_CLEANUP: only when its own
// timestamp is known and older than MAX_LOCK_AGE.
func OrphanExpired(o Orphan, now time.Time, maxAge time.Duration) bool {
	return !o.Lock.At.IsZero() && now.Sub(o.Lock.At) > maxAge
}
