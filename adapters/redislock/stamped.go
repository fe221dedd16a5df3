package redislock

import (
	"strconv"
	"strings"
	"time"
)

// Restore markers and orphan sightings are both stored as "{unix ms}|{lock value}": the time
// first, because a lock value may hold anything, so only the first "|" separates.

func encodeStamped(at time.Time, value string) string {
	return strconv.FormatInt(at.UnixMilli(), 10) + "|" + value
}

// decodeStamped reads "{unix ms}|{value}"; false when the text has another shape.
func decodeStamped(s string) (time.Time, string, bool) {
	ms, value, ok := strings.Cut(s, "|")
	if !ok {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n), value, true
}
