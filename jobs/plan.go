package jobs

import (
	"sort"
	"strings"
	"time"
)

// Plan is what a reconcile should do, computed from a snapshot, the current locks and now.
type Plan struct {
	Report   Report
	Restores []Classified // candidates whose lock is missing, in sheet order
	Orphans  []Orphan     // locks in scope the sheet does not back (no taken row, or another worker's), by tag
	// Backing is how the sheet stands behind each lock in scope (the verify look's question).
	Backing map[string]Backing
	// Expiring are the locks in scope with a TTL on a tag the sheet says is taken, by tag.
	Expiring []Expiring
	// Judgement is what the run deletes and records about orphans and restore markers; filled
	// by Judge once markers and sightings are read.
	Judgement Judgement
	// Trust is the judgement of the snapshot as a whole (JudgeTrust); a suspect snapshot
	// writes nothing. Filled by the Reconciler when it has a TrustStore.
	Trust TrustVerdict

	locks map[string]Lock       // the locks MakePlan was given (Backing says which are in scope)
	first map[string]Classified // the first row of each locked tag in scope (restores come from it)
	// locksReadAt is when the locks were read, on this process's clock (TTLs count from it).
	locksReadAt time.Time
	// occupations are the snapshot's (all rows, whatever the scope) and accepted what was
	// stored when it was judged: accepting the snapshot writes its occupations only when they
	// differ, or when nothing was accepted, or when the accepted ones must be migrated.
	occupations map[string]string
	accepted    Accepted
}

// Orphan is a lock the sheet does not back: its tag has no taken row (Unbacked), or every taken
// row shows another worker's occupation (OtherHolder: the spool was re-taken in degraded mode
// while this lock was left). Both are judged alike: released once the same value has been
// contradicted for ORPHAN_GRACE.
type Orphan struct {
	Tag  string
	Lock Lock
	// Backing is Unbacked or OtherHolder.
	Backing Backing
	// Holder is the Ocupado_Por of the row that contradicts the lock (OtherHolder only).
	Holder string
	// FirstSeen is the stored first sighting of this value unbacked; zero when this snapshot
	// is the first to see it (set by Judge).
	FirstSeen time.Time
	// Unbacked is how long it has been unbacked as of the snapshot (0 when first seen now).
	Unbacked time.Duration
}

// Expiring is a lock with a TTL on a tag the sheet says is taken: an acquisition in flight
// (the backend's SET NX EX before its PERSIST), or one whose PERSIST never came (a stalled
// Redis ran the SET after the backend's client had given up). The worker never touches it,
// and looks again once the TTL has run out.
type Expiring struct {
	Tag  string
	Lock Lock // Lock.TTL is the time it had left when it was read
}

// Backing says how the sheet's rows of a tag stand behind a lock. A tag may have several rows
// (duplicate_tag): the lock is judged against every one of them, and the strongest backing
// wins (the order of the constants), so no deletion ever rests on one of several rows.
type Backing int

const (
	// Unbacked: no row of the tag is taken (free or absent). The lock is an orphan.
	Unbacked Backing = iota
	// OtherHolder: every taken row is a readable occupation of another worker (the spool was
	// re-taken in degraded mode while this lock was left). Judged like an orphan.
	OtherHolder
	// OtherOccupation: a taken row is the lock's worker at another occupation time (or the
	// lock's value has no readable worker), and no row backs the lock better.
	OtherOccupation
	// Unreadable: a row says taken but the rules cannot read it (invalid, too old). Such a
	// lock is never deleted: nothing shows that the occupation ended.
	Unreadable
	// Exact: a row is a candidate of the lock's worker at the lock's occupation time (any
	// time, for a row without a date: its lock was stamped with the time of its restore).
	Exact
)

// contradicted says whether the backing makes a lock an orphan (see Orphan).
func (b Backing) contradicted() bool { return b == Unbacked || b == OtherHolder }

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
	if len(locks) == 0 && scope.full() {
		// No lock at all (Redis came back empty): every taken row is a restore. Sized once, the
		// 20,000 restores of a 100,000-row sheet are not copied at each doubling of the slice.
		p.Restores = make([]Classified, 0, takenRows(rows))
	}
	inScope := scope.set()
	// Only locked tags matter for backing: a map of every taken row would be garbage. Each
	// locked tag gets one slot, found by one map lookup per row (a 100,000-row plan is mostly
	// map lookups).
	slots := make([]lockedTag, 0, len(locks))
	index := make(map[string]int, len(locks))
	for tag, lock := range locks {
		index[tag] = len(slots)
		slots = append(slots, lockedTag{tag: tag, lock: lock})
	}
	ClassifyEach(rows, now, rules, func(c Classified) {
		if !scope.full() {
			if _, ok := inScope[c.Tag]; !ok {
				return
			}
		}
		p.Report.Rows++
		p.Report.count(c)
		var lt *lockedTag
		if i, locked := index[c.Tag]; locked && c.Tag != "" {
			lt = &slots[i]
			if c.Class != ClassDuplicateTag {
				lt.first, lt.hasFirst = c, true
			}
			if b := rowBacking(c, lt.lock, now, rules); !lt.hasRow || b > lt.backing {
				lt.backing, lt.holder, lt.hasRow = b, strings.TrimSpace(c.Holder), true
			}
		}
		if c.Class == ClassCandidate {
			p.planCandidate(c, lt)
		} else if d := c.Detail(); d != "" {
			p.Report.addProblem(Problem{Row: c.Number, Tag: c.Tag, Class: string(c.Class), Detail: d})
		}
	})
	p.Backing = make(map[string]Backing, len(locks))
	p.first = map[string]Classified{}
	for i := range slots {
		lt := &slots[i]
		if _, ok := inScope[lt.tag]; !scope.full() && !ok {
			continue
		}
		b := lt.backing // no row at all: Unbacked
		p.Backing[lt.tag] = b
		if lt.hasFirst && (b == OtherHolder || b == OtherOccupation) {
			p.first[lt.tag] = lt.first // the row a retraction may swap the lock for (Judge)
		}
		switch {
		case b.contradicted():
			o := Orphan{Tag: lt.tag, Lock: lt.lock, Backing: b}
			if b == OtherHolder {
				o.Holder = lt.holder
			}
			p.Orphans = append(p.Orphans, o)
		case lt.lock.TTL > 0:
			p.Expiring = append(p.Expiring, Expiring{Tag: lt.tag, Lock: lt.lock})
		}
	}
	sort.Slice(p.Orphans, func(i, j int) bool { return p.Orphans[i].Tag < p.Orphans[j].Tag })
	sort.Slice(p.Expiring, func(i, j int) bool { return p.Expiring[i].Tag < p.Expiring[j].Tag })
	p.Report.OrphanLocks = len(p.Orphans)
	p.Report.ExpiringLocks = len(p.Expiring)
	return p
}

// lockedTag is what MakePlan gathers about one locked tag while it reads the rows.
type lockedTag struct {
	tag      string
	lock     Lock
	backing  Backing // the strongest over the tag's rows so far
	holder   string  // the holder of the row that gave it
	hasRow   bool
	first    Classified // the tag's first row (not a duplicate_tag)
	hasFirst bool
}

// backingOfRows judges a lock against every row of its tag, as MakePlan does: rows are in sheet
// order and classified over the whole sheet (a later row is duplicate_tag, and is judged by its
// own class); the strongest answer wins, and no row at all is Unbacked.
func backingOfRows(rows []Classified, lock Lock, now time.Time, rules Rules) Backing {
	b := Unbacked
	for _, c := range rows {
		b = max(b, rowBacking(c, lock, now, rules))
	}
	return b
}

// rowBacking is how one classified row of a lock's tag backs it. A duplicate row is skipped
// for restores, but it backs the lock as much as the tag's first row does: it is judged as the
// row it would be on its own.
func rowBacking(c Classified, lock Lock, now time.Time, rules Rules) Backing {
	if c.Class == ClassDuplicateTag {
		c = classifyRow(c.Row, now, rules)
	}
	return backingOf(c, lock)
}

// backingOf judges a lock against one row of its tag.
func backingOf(row Classified, lock Lock) Backing {
	switch {
	case row.Class == ClassFree:
		return Unbacked
	case row.Class != ClassCandidate:
		return Unreadable
	case lock.WorkerID == 0:
		return OtherOccupation // a value without a readable worker is nobody's to judge
	case row.WorkerID != lock.WorkerID:
		return OtherHolder
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
	a = a.In(b.Location())
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	ah, amin, as := a.Clock()
	bh, bmin, bs := b.Clock()
	return ay == by && am == bm && ad == bd && ah == bh && amin == bmin && as == bs
}

// takenRows counts the rows whose holder is not blank: at least the plan's candidates.
func takenRows(rows []Row) int {
	n := 0
	for i := range rows {
		if strings.TrimSpace(rows[i].Holder) != "" {
			n++
		}
	}
	return n
}

func (p *Plan) planCandidate(c Classified, lt *lockedTag) {
	if c.Warning != "" {
		p.Report.addProblem(Problem{Row: c.Number, Tag: c.Tag, Class: string(c.Warning), Detail: c.Detail()})
	}
	var lock Lock
	if lt != nil {
		lock = lt.lock
	}
	switch {
	case lt == nil:
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
