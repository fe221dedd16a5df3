package redislock

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"reconciler/jobs"
)

// valueTimeLayout is the backend's DD-MM-YYYY HH:MM:SS.
const valueTimeLayout = "02-01-2006 15:04:05"

// FormatValue is a lock value exactly as the backend writes it:
// `{worker_id}:{uuid4}:{DD-MM-YYYY HH:MM:SS}`, the time being at's wall clock in loc (nil
// means DefaultTimezone). Sub-second precision is dropped, as in the backend.
func FormatValue(workerID int, id uuid.UUID, at time.Time, loc *time.Location) string {
	return strconv.Itoa(workerID) + ":" + id.String() + ":" +
		at.In(locationOrDefault(loc)).Format(valueTimeLayout)
}

// ParseValue reads a lock value. The parts are read independently and leniently, because a
// lock is reported whatever it holds: WorkerID is 0 unless the value starts with a positive
// decimal id and a colon, and At is zero unless the text after the second colon is a
// DD-MM-YYYY HH:MM:SS wall clock in loc (nil means DefaultTimezone). The timestamp contains
// colons itself, so only the first two colons separate parts. The middle part (the uuid) is
// not checked.
func ParseValue(v string, loc *time.Location) jobs.Lock {
	l := jobs.Lock{Value: v}
	parts := strings.SplitN(v, ":", 3)
	if len(parts) < 2 {
		return l
	}
	if id, ok := positiveDecimal(parts[0]); ok {
		l.WorkerID = id
	}
	if len(parts) == 3 {
		if at, err := time.ParseInLocation(valueTimeLayout, parts[2], locationOrDefault(loc)); err == nil {
			l.At = at
		}
	}
	return l
}

// positiveDecimal accepts only ASCII digits (no sign, no spaces) forming a positive int.
func positiveDecimal(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
