package sheets

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"reconciler/jobs"
)

// CellText is how a cell is shown in reports and used as tag or holder text. Strings are kept
// as they are (untrimmed); numbers are written out in full without an exponent, and integers
// without a decimal point (a numeric tag 1234 is "1234", not "1234.0" or "1.234e+03");
// booleans are TRUE and FALSE as the sheet shows them; an empty cell is "".
func CellText(cell any) string {
	switch v := cell.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "TRUE"
		}
		return "FALSE"
	}
	if n, ok := asNumeric(cell); ok {
		return n.text()
	}
	return fmt.Sprint(cell)
}

// numeric is a cell that holds a number: a value of one of Go's integer or float types (the
// API's JSON decoder gives float64; other callers may pass any of them) or a json.Number.
// It is the one place that knows those types, for CellText and ParseDate alike.
type numeric struct{ rv reflect.Value }

// asNumeric reports whether cell is a number. Named types other than json.Number are not
// (their String or Format methods may say something else).
func asNumeric(cell any) (numeric, bool) {
	if _, ok := cell.(json.Number); ok {
		return numeric{reflect.ValueOf(cell)}, true
	}
	rv := reflect.ValueOf(cell)
	if !rv.IsValid() || rv.Type().PkgPath() != "" {
		return numeric{}, false
	}
	if rv.CanInt() || rv.CanFloat() || (rv.CanUint() && rv.Kind() != reflect.Uintptr) {
		return numeric{rv}, true
	}
	return numeric{}, false
}

// float is the number as a float64 (integers beyond 2⁵³ rounded); NaN for a json.Number that
// does not parse.
func (n numeric) float() float64 {
	switch {
	case n.rv.CanInt():
		return float64(n.rv.Int())
	case n.rv.CanUint():
		return float64(n.rv.Uint())
	case n.rv.CanFloat():
		return n.rv.Float()
	}
	f, err := strconv.ParseFloat(n.rv.String(), 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// text is the number written out in full: integers exactly, floats without an exponent at
// their own precision, a json.Number as it was written.
func (n numeric) text() string {
	switch {
	case n.rv.CanInt():
		return strconv.FormatInt(n.rv.Int(), 10)
	case n.rv.CanUint():
		return strconv.FormatUint(n.rv.Uint(), 10)
	case n.rv.CanFloat():
		return formatFloat(n.rv.Float(), n.rv.Type().Bits())
	}
	return n.rv.String()
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == 0:
		return "0" // also for -0
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// Text date layouts accepted in Fecha_Ocupacion, read as wall-clock times in the sheet's time
// zone. Days, months and hours may have one or two digits; minutes and seconds have two. The
// cell is read as the sheet shows it (FORMATTED_VALUE), so besides the backend's own text these
// are the forms a day-first (Chile) locale sheet shows for the date-time the backend wrote
// (USER_ENTERED turns its text into a date): "5-1-2026 8:41:07", "05-01-2026 8:41",
// "5/1/2026 8:41:07".
var wallClockLayouts = []string{
	"2-1-2006 15:04:05", // the backend's own format, DD-MM-YYYY HH:MM:SS
	"2-1-2006 15:04",
	"2/1/2006 15:04:05",
	"2/1/2006 15:04",
	"2006-1-2 15:04:05",
	"2006-1-2 15:04",
	"2-1-2006", // date only: midnight
	"2/1/2006",
}

// maxSerial is the serial of 10000-01-01: larger serials are not dates anyone typed.
const maxSerial = 2958466

// ParseDate reads a Fecha_Ocupacion cell.
//
//   - nil, "" or white space: DateMissing.
//   - Text (trimmed first): DD-MM-YYYY HH:MM:SS, DD-MM-YYYY HH:MM, DD/MM/YYYY HH:MM:SS,
//     DD/MM/YYYY HH:MM, YYYY-MM-DD HH:MM:SS, YYYY-MM-DD HH:MM, DD-MM-YYYY and DD/MM/YYYY
//     (midnight) are wall-clock times in loc, day, month and hour with one or two digits
//     ("5-1-2026 8:41:07", as a Chile-locale sheet shows a date-time); RFC 3339 with an
//     offset or Z keeps its instant (returned in loc). Years outside 1900–9999 are
//     DateInvalid (typos).
//   - Numbers (float64, the integer types, json.Number, and text made only of digits with one
//     optional "." or "," decimal separator, as a CSV export writes them) are serial numbers:
//     days since 1899-12-30, the fraction being the time of day as a wall clock in loc,
//     rounded to the nearest second. NaN, infinities, negative serials and serials past the
//     year 9999 are DateInvalid.
//   - Anything else, booleans included: DateInvalid.
//
// Wall clocks that daylight saving makes ambiguous follow time.Date: in America/Santiago a
// time in the repeated hour (clocks go back from 24:00 -03 to 23:00 -04, e.g. 23:30 on
// 2026-04-04) is its first occurrence, at -03; a time in the skipped hour (clocks jump from
// 24:00 -04 to 01:00 -03, e.g. 00:30 on 2026-09-06) is read with the offset of after the
// jump, -03: the instant 03:30 UTC, shown as 23:30 -04 of the day before. Neither case fails,
// and neither can come from the backend, which writes real wall-clock times. A nil loc means
// UTC.
func ParseDate(cell any, loc *time.Location) (time.Time, jobs.DateState) {
	if loc == nil {
		loc = time.UTC
	}
	switch v := cell.(type) {
	case nil:
		return time.Time{}, jobs.DateMissing
	case string:
		return parseDateText(v, loc)
	}
	if n, ok := asNumeric(cell); ok {
		return serialTime(n.float(), loc)
	}
	return time.Time{}, jobs.DateInvalid
}

func parseDateText(s string, loc *time.Location) (time.Time, jobs.DateState) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, jobs.DateMissing
	}
	if t, ok := fastWallClock(s, loc); ok {
		return plausible(t)
	}
	if mayBeWallClock(s) {
		for _, layout := range wallClockLayouts {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return plausible(t)
			}
		}
	}
	// A serial shown as text before RFC 3339: no text is both (a decimal has no '-' or ':'),
	// and time.Parse's failure costs an error value (three allocations) per serial.
	if f, ok := parseDecimal(s); ok {
		return serialTime(f, loc)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return plausible(t.In(loc))
	}
	return time.Time{}, jobs.DateInvalid
}

// plausible rejects text dates outside the years 1900–9999: "13-05-0226" is a typo to report
// as invalid_date, not an occupation to skip silently as too old.
func plausible(t time.Time) (time.Time, jobs.DateState) {
	if y := t.Year(); y < 1900 || y > 9999 {
		return time.Time{}, jobs.DateInvalid
	}
	return t, jobs.DateValid
}

// parseDecimal accepts only plain decimals ("46155", "46155.4818", "46155,4818"): no sign,
// exponent, hex, underscores, "Inf" or "NaN", which strconv.ParseFloat would take.
func parseDecimal(s string) (float64, bool) {
	sep := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case (c == '.' || c == ',') && !sep && i > 0 && i < len(s)-1:
			sep = true
		default:
			return 0, false
		}
	}
	if len(s) == 0 || len(s) > 40 {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	return f, err == nil
}

// serialTime turns a serial number (the sheet's date value: days since 1899-12-30, the
// fraction being the time of day) into the wall clock it stands for in loc, rounded to the
// nearest second. time.Date normalizes the day count into a calendar date.
func serialTime(serial float64, loc *time.Location) (time.Time, jobs.DateState) {
	if math.IsNaN(serial) || math.IsInf(serial, 0) || serial < 0 || serial >= maxSerial {
		return time.Time{}, jobs.DateInvalid
	}
	secs := int64(math.Round(serial * 86400))
	days, sec := secs/86400, secs%86400
	return time.Date(1899, time.December, 30+int(days), 0, 0, int(sec), 0, loc), jobs.DateValid
}
