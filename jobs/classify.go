package jobs

import (
	"strings"
	"time"
	"unicode"
)

// Class is what the product's rules make of a row (docs/design.md, "Classifying a row").
type Class string

const (
	ClassFree          Class = "free"
	ClassDuplicateTag  Class = "duplicate_tag"
	ClassInvalidTag    Class = "invalid_tag"
	ClassInvalidHolder Class = "invalid_holder"
	ClassInvalidDate   Class = "invalid_date"
	ClassTooOld        Class = "too_old"
	ClassCandidate     Class = "candidate"
)

// Warning qualifies a candidate.
type Warning string

const (
	WarnMissingDate Warning = "missing_date"
	WarnFutureDate  Warning = "future_date"
)

// Rules are the tunable parts of the classification.
type Rules struct {
	MaxLockAge time.Duration // MAX_LOCK_AGE: older occupations are not restored
	FutureSkew time.Duration // dates further ahead than this are reported (still restored)
}

// DefaultRules are docs/design.md's defaults.
var DefaultRules = Rules{MaxLockAge: 24 * time.Hour, FutureSkew: 5 * time.Minute}

// Classified is a row with its class and, for candidates, what a restore needs.
type Classified struct {
	Row
	Tag        string // trimmed
	Class      Class
	Warning    Warning   // "" or one warning (a candidate has at most one)
	WorkerID   int       // candidates only
	OccupiedAt time.Time // candidates only: the sheet's time, or now when the date is missing
}

// Detail explains the class in a report's problem list.
func (c Classified) Detail() string {
	switch {
	case c.Class == ClassDuplicateTag:
		return "tag already appears on an earlier row; the first row wins"
	case c.Class == ClassInvalidTag:
		return "tag is empty or has control characters"
	case c.Class == ClassInvalidHolder:
		return "Ocupado_Por " + quote(c.Holder) + " does not end with (ID)"
	case c.Class == ClassInvalidDate:
		return "Fecha_Ocupacion " + quote(c.Date) + " is not a date"
	case c.Warning == WarnMissingDate:
		return "Fecha_Ocupacion is empty; the lock is stamped with the current time"
	case c.Warning == WarnFutureDate:
		return "Fecha_Ocupacion " + quote(c.Date) + " is in the future"
	}
	return ""
}

// Classify applies the docs/design.md table to every row, in sheet order. It is pure: the same rows,
// rules and now always give the same result.
func Classify(rows []Row, now time.Time, rules Rules) []Classified {
	out := make([]Classified, 0, len(rows))
	ClassifyEach(rows, now, rules, func(c Classified) { out = append(out, c) })
	return out
}

// ClassifyEach is Classify one row at a time: the planner uses it so that a 100,000-row sheet
// does not materialise a slice of every classified row on each run.
func ClassifyEach(rows []Row, now time.Time, rules Rules, each func(Classified)) {
	seen := make(map[string]struct{}, len(rows))
	for _, row := range rows {
		c := classifyRow(row, now, rules)
		// Blank tags are not a tag: many blank rows are not "duplicates" of each other.
		if c.Tag != "" {
			// One map operation per row: the set grows unless the tag was in it already.
			n := len(seen)
			if seen[c.Tag] = struct{}{}; len(seen) == n {
				c = Classified{Row: row, Tag: c.Tag, Class: ClassDuplicateTag}
			}
		}
		each(c)
	}
}

func classifyRow(row Row, now time.Time, rules Rules) Classified {
	c := Classified{Row: row, Tag: strings.TrimSpace(row.Tag)}
	holder := strings.TrimSpace(row.Holder)
	switch {
	case holder == "" || strings.EqualFold(holder, "DISPONIBLE"):
		c.Class = ClassFree
		return c
	case c.Tag == "" || hasControl(c.Tag):
		c.Class = ClassInvalidTag
		return c
	}
	id, ok := ParseHolder(holder)
	if !ok {
		c.Class = ClassInvalidHolder
		return c
	}
	switch row.DateState {
	case DateInvalid:
		c.Class = ClassInvalidDate
		return c
	case DateMissing:
		c.Class, c.Warning, c.WorkerID, c.OccupiedAt = ClassCandidate, WarnMissingDate, id, now
		return c
	}
	// Ages are instants subtracted, so they stay right across daylight-saving changes.
	age := now.Sub(row.OccupiedAt)
	if age > rules.MaxLockAge {
		c.Class = ClassTooOld
		return c
	}
	c.Class, c.WorkerID, c.OccupiedAt = ClassCandidate, id, row.OccupiedAt
	if -age > rules.FutureSkew {
		c.Warning = WarnFutureDate
	}
	return c
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return true
		}
	}
	return false
}

func quote(s string) string {
	const max = 60
	if len(s) > max {
		s = s[:max] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
