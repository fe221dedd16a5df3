package sheetsemu

import (
	"fmt"
	"time"
)

// Santiago is the sheet's timezone (the default TIMEZONE).
var Santiago = func() *time.Location {
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		panic(err)
	}
	return loc
}()

// Serial is t as a Sheets serial number: days since 1899-12-30 of the wall clock in Santiago.
func Serial(t time.Time) float64 {
	w := t.In(Santiago)
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
	return wall.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24
}

// Generated is a generated Operaciones sheet and the rows the reconciler must lock.
type Generated struct {
	Grid       [][]any
	Candidates []Candidate // fresh occupations, in row order
}

// Candidate is a row the sheet says is taken and fresh.
type Candidate struct {
	Tag      string
	WorkerID int
	At       time.Time // to the second
}

// Generate makes n rows on header (used by the end-to-end tests and the bench): 20% fresh
// occupations (dates as date-time cells and as three text formats), the rest free, DISPONIBLE,
// occupied too long ago or tag-only, plus a malformed holder, a malformed date, an empty row
// and a duplicate tag (the first row wins).
func Generate(header []string, n int, now time.Time) Generated {
	var s Generated
	rows := make([]map[string]any, 0, n+4)
	for i := range n {
		tag := fmt.Sprintf("MK-%04d-CW-%05d-%03d", i/100, i, i%1000)
		id := 1 + i%97
		holder := fmt.Sprintf("W%c(%d)", 'A'+rune(i%26), id)
		at := now.Add(-time.Duration(i%1380) * time.Minute).Truncate(time.Second)
		switch i % 5 {
		case 0:
			var date any
			switch (i / 5) % 4 {
			case 0:
				date = DateTime(at) // a date-time cell: its serial, shown as the sheet shows it
			case 1:
				date = at.In(Santiago).Format("02-01-2006 15:04:05")
			case 2:
				date = at.In(Santiago).Format("2006-01-02 15:04:05")
			case 3:
				date = at.Format(time.RFC3339)
			}
			rows = append(rows, Spool(tag, holder, date))
			s.Candidates = append(s.Candidates, Candidate{Tag: tag, WorkerID: id, At: at})
		case 1:
			rows = append(rows, Spool(tag, "", nil))
		case 2:
			rows = append(rows, Spool(tag, "DISPONIBLE", at.In(Santiago).Format("02-01-2006 15:04:05")))
		case 3:
			rows = append(rows, Spool(tag, holder, Serial(now.Add(-30*time.Hour))))
		case 4:
			rows = append(rows, map[string]any{ColTag: tag}) // short row: tag only
		}
	}
	rows = append(rows,
		Spool("BAD-HOLDER-1", "sin id", Serial(now)),
		Spool("BAD-DATE-1", "MR(93)", "ayer en la tarde"),
		nil, // an empty row in the middle
	)
	if len(s.Candidates) > 0 {
		rows = append(rows, Spool(s.Candidates[min(2, len(s.Candidates)-1)].Tag, "XX(5)", Serial(now)))
	}
	s.Grid = Grid(header, rows...)
	return s
}
