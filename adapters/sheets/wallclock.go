package sheets

import "time"

// fastWallClock reads the text date layouts (wallClockLayouts) without time.Parse, for the
// cells that are plainly one of them: D-M-YYYY or D/M/YYYY with an optional time H:MM or
// H:MM:SS, or YYYY-M-D with a time H:MM or H:MM:SS (days, months and hours of one or two
// digits, minutes and seconds of two, one space before the time). It answers ok only when the
// whole text is such a date with every field in range, and then gives exactly what
// time.ParseInLocation with the matching layout gives (time.Date of the fields in loc).
// Anything else (fractional seconds, a day past the month's end, other text) is ok=false and
// goes through the layouts as before: this is a shortcut, not a second definition of the
// accepted forms. It exists for speed: time.Parse builds an error for every layout that
// does not match, and a sheet of 100,000 rows has tens of thousands of dates.
func fastWallClock(s string, loc *time.Location) (time.Time, bool) {
	var year, month, day int
	i := 0
	num := func(minDigits, maxDigits int) (int, bool) {
		n, start := 0, i
		for i < len(s) && i-start < maxDigits && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + int(s[i]-'0')
			i++
		}
		return n, i-start >= minDigits
	}
	sep := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	first, ok := num(1, 4)
	if !ok {
		return time.Time{}, false
	}
	needTime := false
	switch {
	case i == 4 && sep('-'): // YYYY-M-D, with a time
		year = first
		if month, ok = num(1, 2); !ok || !sep('-') {
			return time.Time{}, false
		}
		if day, ok = num(1, 2); !ok {
			return time.Time{}, false
		}
		needTime = true
	case i <= 2 && i < len(s) && (s[i] == '-' || s[i] == '/'): // D-M-YYYY or D/M/YYYY
		c := s[i]
		i++
		day = first
		if month, ok = num(1, 2); !ok || !sep(c) {
			return time.Time{}, false
		}
		start := i
		if year, ok = num(4, 4); !ok || i-start != 4 {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	// A digit right after a field of its full width would not have matched the layout either.
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		return time.Time{}, false
	}
	hour, minute, second := 0, 0, 0
	if i == len(s) {
		if needTime {
			return time.Time{}, false
		}
	} else {
		if !sep(' ') {
			return time.Time{}, false
		}
		if hour, ok = num(1, 2); !ok || !sep(':') {
			return time.Time{}, false
		}
		start := i
		if minute, ok = num(2, 2); !ok || i-start != 2 {
			return time.Time{}, false
		}
		if i < len(s) {
			if !sep(':') {
				return time.Time{}, false
			}
			start = i
			if second, ok = num(2, 2); !ok || i-start != 2 {
				return time.Time{}, false
			}
		}
		if i != len(s) {
			return time.Time{}, false
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, 0, loc), true
}

// daysIn is the length of a month of the proleptic Gregorian calendar, as time.Parse checks it.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// mayBeWallClock is false for text no wall-clock layout can match: each has a '-' or '/', and
// time.Parse with them consumes only digits, those separators, ':', ' ' and a fractional
// second's '.' or ','. A serial written as text ("46155.48") or an RFC 3339 time (its 'T')
// then skips the layouts' failures.
func mayBeWallClock(s string) bool {
	sep := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' || c == '/':
			sep = true
		case c >= '0' && c <= '9', c == ':', c == ' ', c == '.', c == ',':
		default:
			return false
		}
	}
	return sep
}
