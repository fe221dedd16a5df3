package jobs

import (
	"sort"
	"time"
)

// Retraction is a restored lock the sheet no longer backs, to be taken back.
type Retraction struct {
	Tag     string
	Lock    Lock
	Marker  RestoreMarker
	Backing Backing // Unbacked, OtherHolder or OtherOccupation
	// Replace, when set, is the tag's first row, a candidate of another occupation: the lock is
	// swapped for that row's own lock in one step (compare-and-set), never deleted first.
	Replace *Classified
}

// Judgement is what a run does about the locks the sheet does not back: the pure outcome of
// Judge, acted on by the reconcile (a dry run or `plan` only reports it).
type Judgement struct {
	Retract []Retraction // restored locks whose verification failed
	Release []Orphan     // orphans unbacked with the same value for at least ORPHAN_GRACE
	// DropMarkers are restore markers that are settled: verified (the sheet backs the lock)
	// or moot (the lock is gone or holds another value).
	DropMarkers map[string]RestoreMarker
	// Record holds new orphan sightings; Forget the stored ones of tags judged and not (or
	// no longer with that value) orphans.
	Record, Forget map[string]OrphanSighting
	// LookAt asks for a targeted orphan look: tags → how long after the snapshot.
	LookAt map[time.Duration][]string
}

// Deletions is how many locks the judgement would delete.
func (j Judgement) Deletions() int { return len(j.Retract) + len(j.Release) }

// JudgeInput is what Judge needs beside the plan.
type JudgeInput struct {
	SnapshotAt time.Time     // the snapshot's time (Report.SnapshotAt)
	Settle     time.Duration // RELEASE_SETTLE: a marker is due once SnapshotAt ≥ its time + this
	// Grace is ORPHAN_GRACE; 0 means off: sightings are still recorded (a replica with release
	// on, beside this one, must not lose them), nothing is released and no look is asked for.
	Grace time.Duration
	// Markers and Sightings hold what was read for the tags judged (MarkerTags, and every
	// sighting of a full run or those of the scope).
	Markers   map[string]RestoreMarker
	Sightings map[string]OrphanSighting
	// Early marks a look that was asked for an orphan's due time (TriggerOrphan): an orphan
	// still short of the grace then gets another look instead of waiting for the schedule.
	Early bool
}

// MarkerTags are the tags whose restore markers a run must read: every tag of a targeted
// scope (verify looks drop the markers they settle), and in a full run only the locks the
// sheet does not back exactly (the ones a due marker would retract; the other markers expire).
func (p *Plan) MarkerTags(scope Scope) []string {
	if !scope.full() {
		return scope
	}
	var tags []string
	for tag, b := range p.Backing {
		if b != Exact {
			tags = append(tags, tag)
		}
	}
	sort.Strings(tags)
	return tags
}

// Judge decides, purely, what to delete and what to record (docs/design.md, "The release race" and
// "Orphan locks") for the tags of scope (every lock for a full scope):
//   - A due marker whose value is still the lock's: retract the lock when no row of its tag is
//     taken or the rows show another occupation (swapped for the first row's own lock when
//     that row is a candidate); drop the marker (verified) otherwise. A due marker of a lock
//     gone or changed is dropped. A marker not yet due is left for its look.
//   - An orphan (no taken row, or only another worker's) not being retracted: with a stored
//     sighting of the same value, it has been contradicted since then, and is released once
//     that is at least the grace; without one, this snapshot is its first sighting (recorded,
//     with a look asked for grace + 1 s later). With the grace off, sightings are recorded all
//     the same and nothing is released.
//   - Stored sightings of judged tags that are not orphans with that value are forgotten.
func (p *Plan) Judge(in JudgeInput, scope Scope) {
	j := Judgement{DropMarkers: map[string]RestoreMarker{}, Record: map[string]OrphanSighting{},
		Forget: map[string]OrphanSighting{}, LookAt: map[time.Duration][]string{}}
	retracting := map[string]bool{}
	for _, tag := range sortedKeys(in.Markers) {
		m := in.Markers[tag]
		if in.SnapshotAt.Before(m.At.Add(in.Settle)) {
			continue // the snapshot may predate the sheet catching up: its look will come
		}
		b, locked := p.Backing[tag] // only locks in scope have a Backing
		lock := p.locks[tag]
		switch {
		case !locked || lock.Value != m.Value:
			j.DropMarkers[tag] = m // moot: the lock is gone or holds another value
		case b == Unbacked || b == OtherHolder || b == OtherOccupation:
			// While our value is in the key, the backend's SET NX cannot have re-taken the
			// spool: a free row (or another occupation) means the occupation we restored ended.
			x := Retraction{Tag: tag, Lock: lock, Marker: m, Backing: b}
			if row, ok := p.first[tag]; ok && b != Unbacked && row.Class == ClassCandidate {
				x.Replace = &row
			}
			j.Retract = append(j.Retract, x)
			retracting[tag] = true
		default:
			j.DropMarkers[tag] = m // verified
		}
	}
	p.judgeOrphans(&j, in, retracting)
	inScope := scope.set()
	for tag, s := range in.Sightings {
		if _, ok := inScope[tag]; !scope.full() && !ok {
			continue // not judged by this run
		}
		b, locked := p.Backing[tag]
		stillOrphan := locked && b.contradicted() && p.locks[tag].Value == s.Value
		if !stillOrphan || retracting[tag] {
			j.Forget[tag] = s
		}
	}
	p.Judgement = j
	p.Report.RetractionsDue = len(j.Retract)
}

// judgeOrphans fills the orphans' ages, the releases, new sightings and the looks to ask for.
func (p *Plan) judgeOrphans(j *Judgement, in JudgeInput, retracting map[string]bool) {
	for i := range p.Orphans {
		o := &p.Orphans[i]
		s, seen := in.Sightings[o.Tag]
		if seen && s.Value == o.Lock.Value {
			o.FirstSeen = s.FirstSeen
			o.Unbacked = max(in.SnapshotAt.Sub(s.FirstSeen), 0)
		}
		if retracting[o.Tag] {
			continue
		}
		switch {
		case o.FirstSeen.IsZero():
			j.Record[o.Tag] = OrphanSighting{Value: o.Lock.Value, FirstSeen: in.SnapshotAt}
			if in.Grace > 0 {
				j.LookAt[in.Grace+time.Second] = append(j.LookAt[in.Grace+time.Second], o.Tag)
			}
		case in.Grace == 0:
			// Release is off here: the sighting is kept for replicas that release.
		case o.Unbacked >= in.Grace:
			p.Report.OrphansPastGrace++
			j.Release = append(j.Release, *o)
		case in.Early:
			wait := in.Grace - o.Unbacked + time.Second
			j.LookAt[wait] = append(j.LookAt[wait], o.Tag)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
