package main

import (
	"fmt"
	"time"

	"reconciler/tests/sheetsemu"
)

var santiago = func() *time.Location {
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		panic(err)
	}
	return loc
}()

// serial is t as a Sheets serial number: days since 1899-12-30 of the wall clock in Santiago.
func serial(t time.Time) float64 {
	w := t.In(santiago)
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
	return wall.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24
}

// sheet is a generated Operaciones sheet and the tags the reconciler must lock.
type sheet struct {
	grid       [][]any
	candidates []string // tags of the fresh occupations, in row order
}

// buildSheet is the e2e tests' buildSheet (tests/e2e_test.go): n rows on the real 75-column
// header, 20% fresh occupations (dates as serial numbers and three text formats), the rest
// free, DISPONIBLE, too old or tag-only, plus a malformed holder, a malformed date, an empty
// row and a duplicate tag.
func buildSheet(header []string, n int, now time.Time) sheet {
	var s sheet
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
				date = serial(at)
			case 1:
				date = at.In(santiago).Format("02-01-2006 15:04:05")
			case 2:
				date = at.In(santiago).Format("2006-01-02 15:04:05")
			case 3:
				date = at.Format(time.RFC3339)
			}
			rows = append(rows, sheetsemu.Spool(tag, holder, date))
			s.candidates = append(s.candidates, tag)
		case 1:
			rows = append(rows, sheetsemu.Spool(tag, "", nil))
		case 2:
			rows = append(rows, sheetsemu.Spool(tag, "DISPONIBLE", at.In(santiago).Format("02-01-2006 15:04:05")))
		case 3:
			rows = append(rows, sheetsemu.Spool(tag, holder, serial(now.Add(-30*time.Hour))))
		case 4:
			rows = append(rows, map[string]any{sheetsemu.ColTag: tag})
		}
	}
	rows = append(rows,
		sheetsemu.Spool("BAD-HOLDER-1", "sin id", serial(now)),
		sheetsemu.Spool("BAD-DATE-1", "MR(93)", "ayer en la tarde"),
		nil,
		sheetsemu.Spool(s.candidates[min(2, len(s.candidates)-1)], "XX(5)", serial(now)),
	)
	s.grid = sheetsemu.Grid(header, rows...)
	return s
}
