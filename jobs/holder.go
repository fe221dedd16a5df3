package jobs

import (
	"strconv"
	"strings"
)

// ParseHolder returns the worker ID of an Ocupado_Por value such as "MR(93)". The text before
// "(ID)" is not checked (the backend's own pattern is `\((\d+)\)$`); the ID must be a positive
// integer that fits an int32 (leading zeros allowed), and the value is trimmed first.
func ParseHolder(holder string) (int, bool) {
	h := strings.TrimSpace(holder)
	if !strings.HasSuffix(h, ")") {
		return 0, false
	}
	open := strings.LastIndexByte(h, '(')
	if open < 0 {
		return 0, false
	}
	digits := h[open+1 : len(h)-1]
	// Leading zeros are fine, as for the backend's int(); only ASCII digits are accepted (a
	// holder with other digits is reported as invalid_holder rather than guessed at).
	if trimmed := strings.TrimLeft(digits, "0"); trimmed != "" || digits == "" {
		digits = trimmed
	}
	if digits == "" || len(digits) > 10 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(digits, 10, 32)
	if err != nil || id <= 0 {
		return 0, false
	}
	return int(id), true
}
