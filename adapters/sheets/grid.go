package sheets

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"reconciler/jobs"
)

// ParseGrid turns a sheet into rows: grid[0] is the header row (see MapHeader), every later
// grid[i] becomes a jobs.Row numbered i+1 (its sheet row number). Rows may be short, as the
// API leaves out trailing empty cells: a missing cell is an empty one. Rows whose tag, holder
// and date cells are all blank are skipped, so every transport gives the same rows whatever
// else those rows hold. A nil loc means UTC.
func ParseGrid(grid [][]any, loc *time.Location) ([]jobs.Row, error) {
	if len(grid) == 0 {
		return nil, errors.New("sheet is empty: no header row")
	}
	cols, err := MapHeader(grid[0])
	if err != nil {
		return nil, err
	}
	return parseRows(grid, 1, cols, loc), nil
}

// parseRows reads grid[from:] with the given column map; grid[i] is sheet row i+1.
func parseRows(grid [][]any, from int, cols Columns, loc *time.Location) []jobs.Row {
	rows := make([]jobs.Row, 0, max(len(grid)-from, 0))
	for i := from; i < len(grid); i++ {
		line := grid[i]
		cell := func(col int) any {
			if col < len(line) {
				return line[col]
			}
			return nil
		}
		tag, holder, date := cell(cols.Tag), cell(cols.Holder), cell(cols.Date)
		if isBlank(tag) && isBlank(holder) && isBlank(date) {
			continue
		}
		row := jobs.Row{
			Number: i + 1,
			Tag:    CellText(tag),
			Holder: CellText(holder),
			Date:   CellText(date),
		}
		row.OccupiedAt, row.DateState = ParseDate(date, loc)
		rows = append(rows, row)
	}
	return rows
}

// parseTextColumns is parseRows for three columns of text (tag, holder, date) as the
// transport decodes them: cols[i][j] is sheet row first[i]+j+1; a cell past a column's end
// is empty. It gives the rows parseRows gives for the grid of the same cells.
func parseTextColumns(cols [3][]string, first [3]int, loc *time.Location) []jobs.Row {
	if loc == nil {
		loc = time.UTC
	}
	height := 0 // grid rows, header included
	for i, c := range cols {
		if len(c) > 0 {
			height = max(height, first[i]+len(c))
		}
	}
	cell := func(i, r int) string {
		if j := r - first[i]; j >= 0 && j < len(cols[i]) {
			return cols[i][j]
		}
		return ""
	}
	rows := make([]jobs.Row, 0, max(height-1, 0))
	for r := 1; r < height; r++ {
		tag, holder, date := cell(0, r), cell(1, r), cell(2, r)
		if isBlankText(tag) && isBlankText(holder) && isBlankText(date) {
			continue
		}
		row := jobs.Row{Number: r + 1, Tag: tag, Holder: holder, Date: date}
		row.OccupiedAt, row.DateState = parseDateText(date, loc)
		rows = append(rows, row)
	}
	return rows
}

// isBlankText reports whether s is empty or white space only.
func isBlankText(s string) bool {
	if s != "" && s[0] > ' ' && s[0] < 0x80 {
		return false // the usual cell: no white space first
	}
	return strings.TrimSpace(s) == ""
}

// isBlank reports whether a cell is empty or white space only.
func isBlank(cell any) bool {
	if cell == nil {
		return true
	}
	s, ok := cell.(string)
	return ok && strings.TrimSpace(s) == ""
}

// describeColumns names the columns of a map for error messages, e.g.
// `TAG_SPOOL (G), Ocupado_Por (BO), Fecha_Ocupacion (BP)`.
func describeColumns(c Columns) string {
	return fmt.Sprintf("%s (%s), %s (%s), %s (%s)", c.TagHeader, columnLetters(c.Tag),
		HeaderHolder, columnLetters(c.Holder), HeaderDate, columnLetters(c.Date))
}
