package sheets

import (
	_ "embed"
	"fmt"
	"strings"
	"time"
)

// operacionesHeaders is the real Operaciones header row, one cell a line: the project's one
// copy, embedded so that the binary (demo mode) and the tests (through OperacionesHeader)
// read the same cells without a file path.
//
//go:embed operaciones-headers.txt
var operacionesHeaders string

// OperacionesHeader returns the 75 header cells of the real Operaciones sheet (A…BW).
func OperacionesHeader() []string {
	return strings.Split(strings.TrimRight(strings.ReplaceAll(operacionesHeaders, "\r\n", "\n"), "\n"), "\n")
}

// ProductionTagHeader is the tag column's header on the production sheet, as the backend's
// notes record it. Its first part answers to TAG_SPOOL (see MapHeader).
const ProductionTagHeader = "TAG_SPOOL / CODIGO_BARRA"

// NotesHolderHeader is the header of a notes column that also reads "Ocupado Por": with it
// left of the real Ocupado_Por, the two answer to the same name and the last (the real one,
// where the backend writes) must win.
const NotesHolderHeader = "Ocupado Por"

// ProductionHeader is OperacionesHeader as production has it: the tag column (G) headed
// ProductionTagHeader, beside SPLIT (F), which holds split numbers. With duplicateHolder, the
// Notas column (S) is headed NotesHolderHeader too: a second "Ocupado Por" left of the real
// one.
func ProductionHeader(duplicateHolder bool) []string {
	h := OperacionesHeader()
	for i, name := range h {
		switch {
		case name == HeaderTag:
			h[i] = ProductionTagHeader
		case name == "Notas" && duplicateHolder:
			h[i] = NotesHolderHeader
		}
	}
	return h
}

// Sample is the built-in demo sheet of the embedded mode: the production 75-column header
// (ProductionHeader with the duplicated "Ocupado Por", holding notes; SPLIT holding split
// numbers 1 and 2) and 40 rows covering every class and warning of docs/design.md's table
// relative to now (text dates are wall clocks in loc; a nil loc means UTC):
//
//   - free: empty holder, DISPONIBLE, disponible, a short row that ends before Ocupado_Por;
//   - candidates with each accepted date format: DD-MM-YYYY HH:MM:SS, DD-MM-YYYY HH:MM,
//     DD/MM/YYYY HH:MM:SS, YYYY-MM-DD HH:MM:SS, RFC 3339 with an offset and with Z, date only
//     (today, midnight), a serial number and a serial number as text; a numeric tag; a
//     holder and a tag with spaces around; occupied 20 h ago; 3 min in the future (within
//     the allowed skew);
//   - candidate with warning missing_date (also as a short row that ends at Ocupado_Por),
//     and with warning future_date (+3 h);
//   - duplicate_tag (the first row wins, free or not), invalid_tag (empty, blank, control
//     character), invalid_holder, invalid_date (text, impossible date, a boolean), too_old
//     (30 h ago);
//   - a fully empty row, which readers skip.
//
// The demo classifies these rows again on every run while the clock moves on, so the timed
// rows keep hours away from the rules' edges (MAX_LOCK_AGE, the future skew): a row must not
// change class minutes after the demo starts. The edges themselves (exactly 24 h, 24 h and a
// second, exactly the skew) are tested in jobs and in the restore script's tests.
//
// The date-only row is today's midnight, so its age is the time of day: a demo left running
// over midnight sees it become too_old then. Two more edges depend on the calendar: on the
// day daylight saving ends (25 hours long) that row is too_old in the last hour of the day,
// and a time in the repeated hour may be read as its first occurrence, one hour earlier.
func Sample(now time.Time, loc *time.Location) [][]any {
	if loc == nil {
		loc = time.UTC
	}
	header := ProductionHeader(true)
	head := make([]any, len(header))
	for i, h := range header {
		head[i] = h
	}
	cols, err := MapHeader(head)
	if err != nil {
		panic("sheets: embedded header: " + err.Error()) // a build mistake, caught by the tests
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}

	wall := func(d time.Duration, layout string) string { return now.Add(d).In(loc).Format(layout) }
	const (
		dmyHMS = "02-01-2006 15:04:05" // the backend's format
		dmyHM  = "02-01-2006 15:04"
		slash  = "02/01/2006 15:04:05"
		ymdHMS = "2006-01-02 15:04:05"
	)
	tag := func(n int) string { return fmt.Sprintf("MK-1335-CW-25238-%03d", n) }
	// Today's date as text; not via time.Date, which would move a midnight that daylight
	// saving skips into the day before.
	today := now.In(loc).Format("02-01-2006")

	type row struct {
		tag, holder, date any
		short             int // 0: a full row; otherwise the row ends at this column (exclusive)
	}
	rows := []row{
		{tag: tag(1), holder: ""},
		{tag: tag(2), holder: "DISPONIBLE", date: wall(-3*time.Hour, dmyHMS)},
		{tag: tag(3), holder: "disponible"},
		{tag: tag(4), holder: "MR(93)", date: wall(-2*time.Hour, dmyHMS)},
		{tag: tag(5), holder: "JP(12)", date: wall(-3*time.Hour, dmyHM)},
		{tag: tag(6), holder: "CV(7)", date: wall(-4*time.Hour, slash)},
		{tag: tag(7), holder: "AR(15)", date: wall(-5*time.Hour, ymdHMS)},
		{tag: tag(8), holder: "MR(93)", date: now.Add(-6 * time.Hour).In(loc).Format(time.RFC3339)},
		{tag: tag(9), holder: "LP(21)", date: now.Add(-7 * time.Hour).UTC().Format(time.RFC3339)},
		{tag: tag(10), holder: "MR(93)", date: today},
		{tag: tag(11), holder: "FS(3)", date: serialOf(now.Add(-time.Hour), loc)},
		{tag: tag(12), holder: "JP(12)", date: CellText(serialOf(now.Add(-90*time.Minute), loc))},
		{tag: tag(13), holder: "RS(44)", date: ""},
		{tag: tag(14), holder: "RS(44)", short: cols.Holder + 1},
		{tag: tag(15), holder: "MR(93)", date: "ayer"},
		{tag: tag(16), holder: "MR(93)", date: "31-02-2026 10:00:00"},
		{tag: tag(17), holder: "CV(7)", date: true},
		{tag: tag(18), holder: "AR(15)", date: wall(-30*time.Hour, dmyHMS)},
		{tag: tag(19), holder: "LP(21)", date: wall(-20*time.Hour, dmyHMS)},
		{tag: tag(20), holder: "FS(3)", date: wall(3*time.Hour, dmyHMS)},
		{tag: tag(21), holder: "MR(93)", date: wall(3*time.Minute, dmyHMS)},
		{tag: tag(4), holder: "XX(5)", date: wall(-time.Hour, dmyHMS)},          // duplicate of a candidate
		{tag: tag(1), holder: "MR(93)", date: wall(-time.Hour, dmyHMS)},         // duplicate of a free row
		{tag: "", holder: "MR(93)", date: wall(-time.Hour, dmyHMS)},             // no tag
		{tag: tag(25) + "\a", holder: "MR(93)", date: wall(-time.Hour, dmyHMS)}, // control character
		{tag: "   ", holder: "JP(12)", date: wall(-time.Hour, dmyHMS)},          // blank tag
		{tag: tag(27), holder: "MR", date: wall(-time.Hour, dmyHMS)},
		{tag: tag(28), holder: "MR(0)", date: wall(-time.Hour, dmyHMS)},
		{tag: tag(29), holder: "MR(abc)", date: wall(-time.Hour, dmyHMS)},
		{tag: tag(30), holder: "MR(93) turno 2", date: wall(-time.Hour, dmyHMS)},
		{tag: 25238.0, holder: "JP(12)", date: wall(-30*time.Minute, dmyHMS)},
		{tag: " " + tag(32) + " ", holder: "  MR(93)  ", date: wall(-45*time.Minute, dmyHMS)},
		{tag: tag(33), short: cols.Tag + 1},
		{}, // a fully empty row
		{tag: tag(35), holder: ""},
		{tag: tag(36), holder: "DISPONIBLE"},
		{tag: tag(37), holder: "AR(15)", date: wall(-12*time.Hour, dmyHMS)},
		{tag: tag(38), holder: "CV(7)", date: wall(-18*time.Hour, dmyHMS)},
		{tag: tag(39), holder: ""},
		{tag: tag(40), holder: "LP(21)", date: wall(-20*time.Minute, dmyHMS)},
	}

	grid := make([][]any, 0, len(rows)+1)
	grid = append(grid, head)
	for i, r := range rows {
		if r.tag == nil && r.holder == nil && r.date == nil && r.short == 0 {
			grid = append(grid, []any{})
			continue
		}
		line := make([]any, len(header))
		line[col["id"]] = float64(i + 1)
		line[col["NV"]] = "NV-1335"
		line[col["OT"]] = float64(25238)
		line[col["SPLIT"]] = float64(1 + i%2)
		line[col[NotesHolderHeader]] = []string{"", "revisar con JP(12)", "urgente", "MR(93) pidió prioridad"}[i%4]
		line[col["STATUS_NV"]] = "ABIERTA"
		line[col["Status_Spool"]] = "EN PROCESO"
		line[col["Ubicación"]] = "Taller 2"
		line[col["DIAM"]] = float64(6 + 2*(i%4))
		line[cols.Tag], line[cols.Holder], line[cols.Date] = r.tag, r.holder, r.date
		line[col["Estado_Detalle"]] = "ARM 3/4"
		line[col["Total_Uniones"]] = float64(4)
		if r.short > 0 {
			line = line[:r.short]
		}
		grid = append(grid, line)
	}
	return grid
}

// serialOf is the serial number of t's wall clock in loc, to the second.
func serialOf(t time.Time, loc *time.Location) float64 {
	w := t.In(loc)
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
	// Unix seconds, not Sub: a Duration overflows past 292 years.
	return float64(wall.Unix()-time.Date(1899, time.December, 30, 0, 0, 0, 0, time.UTC).Unix()) / 86400
}
