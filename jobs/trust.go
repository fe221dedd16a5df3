package jobs

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"
)

// Trusting a snapshot (docs/design.md, "Trusting a snapshot"). A sheet can be wrong as a
// whole: a holder column sorted alone moves every holder to another row, a column cleared by
// mistake frees every spool, a renamed header makes the column read empty. Acting on such a
// snapshot would delete live locks and write locks for spools nobody took. So every run judges
// its snapshot as a whole, before it writes anything, against the last snapshot that was
// accepted (kept in Redis), and a suspect snapshot writes nothing at all.
const (
	// TrustHandful is how many accepted occupations a snapshot may lose (or how many locks
	// may exist beside an empty sheet with nothing accepted) before the share counts at all.
	TrustHandful = 5
	// TrustShare: losing more than this share of the accepted occupations is suspect.
	TrustShare = 0.5
	// TrustMaxAge: an accepted snapshot last judged longer ago than this (the worker was off)
	// no longer counts; the snapshot is judged as if none had been accepted.
	TrustMaxAge = time.Hour
	// TrustExamples bounds the lost occupations a verdict quotes.
	TrustExamples = 10
)

// Occupations maps each occupied tag to its holder: a tag is occupied when any of its rows has
// a holder that is not free (blank or DISPONIBLE); the first such row's holder is the one kept,
// trimmed. Tags are trimmed; rows without a tag, or with control characters in it, are left
// out. It reads every row, whatever the run's scope: the sheet is judged as a whole.
func Occupations(rows []Row) map[string]string {
	occ := make(map[string]string, takenRows(rows))
	for _, row := range rows {
		tag, holder := strings.TrimSpace(row.Tag), strings.TrimSpace(row.Holder)
		if tag == "" || hasControl(tag) || holder == "" || strings.EqualFold(holder, "DISPONIBLE") {
			continue
		}
		if _, seen := occ[tag]; !seen {
			occ[tag] = holder
		}
	}
	return occ
}

// Accepted is the last accepted snapshot as stored: its occupations and when a run last
// judged a snapshot against it.
type Accepted struct {
	// Present is false when nothing was ever accepted (first boot, or Redis emptied).
	Present     bool
	Occupations map[string]string // tag → holder
	// JudgedAt is the last judgement of any real run, sane or suspect (zero: unknown).
	JudgedAt time.Time
	// Migrate says the occupations were read from a form an earlier version wrote: the next
	// acceptance stores them whole even when they did not change.
	Migrate bool
}

// TrustInput is what JudgeTrust weighs.
type TrustInput struct {
	Snapshot map[string]string // the snapshot's occupations (Occupations)
	Accepted Accepted
	// Locks is how many lock keys exist (a lower bound is enough: it is only compared with
	// TrustHandful), or -1 when not counted.
	Locks int
	Now   time.Time // the snapshot's time, on the shared clock
}

// TrustVerdict is the judgement of a snapshot as a whole.
type TrustVerdict struct {
	Suspect  bool
	Reason   string   // one sentence; empty for a sane snapshot
	Examples []string // up to TrustExamples lost occupations, "TAG: was HOLDER, now …", sane or not
	// Lost is how many accepted occupations the snapshot lost (another holder or none).
	Lost int
	// Baseline says what the snapshot was compared with: "accepted", or "none" when nothing
	// valid was accepted (never, Redis emptied, or judged more than TrustMaxAge ago).
	Baseline string
}

// Valid says whether an accepted snapshot counts as of now: present and judged at most
// TrustMaxAge ago.
func (a Accepted) Valid(now time.Time) bool {
	return a.Present && !a.JudgedAt.IsZero() && now.Sub(a.JudgedAt) <= TrustMaxAge
}

// JudgeTrust is the pure judge of a snapshot as a whole:
//   - against a valid accepted snapshot, it is suspect when it lost more than TrustShare of the
//     accepted occupations and more than TrustHandful of them ("lost": the tag's holder in the
//     snapshot is another one, or there is none);
//   - with none valid, it is suspect when it shows no occupation at all while more than
//     TrustHandful locks exist.
//
// Gradual change is always sane: each sane snapshot becomes the accepted one, so spools
// finishing one by one, or a shift starting, never lose more than a handful at a time.
func JudgeTrust(in TrustInput) TrustVerdict {
	if !in.Accepted.Valid(in.Now) {
		v := TrustVerdict{Baseline: "none"}
		if len(in.Snapshot) == 0 && in.Locks > TrustHandful {
			v.Suspect = true
			why := "nothing accepted yet"
			if in.Accepted.Present {
				why = fmt.Sprintf("the accepted snapshot was last judged %s ago, longer than %s",
					in.Now.Sub(in.Accepted.JudgedAt).Round(time.Second), TrustMaxAge)
			}
			v.Reason = fmt.Sprintf("the sheet shows no occupation at all while %d locks exist (%s): "+
				"a column cleared or renamed looks like this", in.Locks, why)
		}
		return v
	}
	v := TrustVerdict{Baseline: "accepted"}
	// Only the lost tags are sorted (for the same examples every time), not all 20,000.
	var lost []string
	for tag, was := range in.Accepted.Occupations {
		if now, ok := in.Snapshot[tag]; !ok || now != was {
			lost = append(lost, tag)
		}
	}
	sort.Strings(lost)
	v.Lost = len(lost)
	for _, tag := range lost[:min(len(lost), TrustExamples)] {
		now, ok := in.Snapshot[tag]
		if !ok {
			now = "free"
		}
		v.Examples = append(v.Examples, fmt.Sprintf("%s: was %s, now %s", tag, in.Accepted.Occupations[tag], now))
	}
	all := len(in.Accepted.Occupations)
	if v.Lost > TrustHandful && float64(v.Lost) > TrustShare*float64(all) {
		v.Suspect = true
		v.Reason = fmt.Sprintf("the sheet lost %d of the %d accepted occupations at once (another holder or none): "+
			"a holder column sorted alone or cleared looks like this", v.Lost, all)
	}
	return v
}

// SameOccupations says whether a snapshot's occupations are exactly the accepted ones (every
// tag with the same holder, none more, none less): accepting such a snapshot changes nothing
// but the stamps, which is what most runs find.
func SameOccupations(accepted, snapshot map[string]string) bool {
	return maps.Equal(accepted, snapshot)
}

// SuspectState is the cluster's record that the sheet is suspect: since when, and the verdict
// that began it.
type SuspectState struct {
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason"`
	Examples []string  `json:"examples"`
}
