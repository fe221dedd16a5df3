package sheetsemu

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// valueRange is the API's ValueRange JSON object.
type valueRange struct {
	Range          string  `json:"range"`
	MajorDimension string  `json:"majorDimension"`
	Values         [][]any `json:"values,omitempty"`
}

// render options, as the API spells them.
const (
	formattedValue   = "FORMATTED_VALUE"
	unformattedValue = "UNFORMATTED_VALUE"
	formulaValue     = "FORMULA"
	dimensionRows    = "ROWS"
	dimensionColumns = "COLUMNS"
)

// serve cuts r out of grid the way the API does: bounds closed against the grid's size, cells
// rendered per valueRender, and trailing empty cells of each row (or column) and trailing
// empty rows (or columns) left out. A range with no data has no "values" at all.
func serve(sheet string, grid [][]any, r a1Range, dimension, valueRender string) valueRange {
	height, width := len(grid), 0
	for _, row := range grid {
		width = max(width, len(row))
	}
	endRow, endCol := r.endRow, r.endCol
	if endRow < 0 {
		endRow = max(height, 1) - 1
	}
	if endCol < 0 {
		endCol = max(width, 1) - 1
	}
	out := valueRange{
		Range: fmt.Sprintf("%s!%s%d:%s%d", quoteSheetForResponse(sheet),
			columnLetters(r.startCol), r.startRow+1, columnLetters(endCol), endRow+1),
		MajorDimension: dimension,
	}
	cell := func(row, col int) any {
		if row < len(grid) && col < len(grid[row]) {
			return grid[row][col]
		}
		return nil
	}
	var lines [][]any // rows, or columns when dimension is COLUMNS
	if dimension == dimensionColumns {
		for col := r.startCol; col <= endCol; col++ {
			var line []any
			for row := r.startRow; row <= endRow && row < height; row++ {
				line = append(line, cell(row, col))
			}
			lines = append(lines, line)
		}
	} else {
		for row := r.startRow; row <= endRow && row < height; row++ {
			var line []any
			for col := r.startCol; col <= endCol && col < width; col++ {
				line = append(line, cell(row, col))
			}
			lines = append(lines, line)
		}
	}
	for i, line := range lines {
		n := len(line)
		for n > 0 && isEmpty(line[n-1]) {
			n--
		}
		rendered := make([]any, n)
		for j, v := range line[:n] {
			rendered[j] = render(v, valueRender)
		}
		lines[i] = rendered
	}
	n := len(lines)
	for n > 0 && len(lines[n-1]) == 0 {
		n--
	}
	if n > 0 {
		out.Values = lines[:n]
	}
	return out
}

// Cell is a typed cell with its own display text, like a sheet cell with a number format:
// UNFORMATTED_VALUE (and FORMULA) give Value, FORMATTED_VALUE gives Text. A number formatted
// "00000" is Cell{123.0, "00123"}; a date-time is Cell{serial, "5-1-2026 8:41:07"}.
type Cell struct {
	Value any // string, float64, bool or nil
	Text  string
}

// Shown is a cell holding value and showing text.
func Shown(value any, text string) Cell { return Cell{Value: value, Text: text} }

// DateTime is a date-time cell as the backend's USER_ENTERED write of "DD-MM-YYYY HH:MM:SS"
// leaves it in a day-first (Chile) locale sheet: the serial number of t's wall clock in
// Santiago, shown as D-M-YYYY H:MM:SS (day, month and hour without leading zeros, which no Go
// layout writes for a 24-hour clock).
func DateTime(t time.Time) Cell {
	w := t.In(Santiago)
	return Cell{Value: Serial(t), Text: fmt.Sprintf("%d-%d-%d %d:%02d:%02d", w.Day(), int(w.Month()), w.Year(), w.Hour(), w.Minute(), w.Second())}
}

// DateTimeAs is a date-time cell shown with a Go layout (a column with its own date format).
func DateTimeAs(t time.Time, layout string) Cell {
	return Cell{Value: Serial(t), Text: t.In(Santiago).Format(layout)}
}

// isEmpty reports whether a cell is blank to the API: no value or an empty string.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case Cell:
		return isEmpty(x.Value) && x.Text == ""
	}
	return false
}

// render turns a grid cell into its JSON value: with FORMATTED_VALUE everything is a string;
// otherwise numbers stay numbers and booleans booleans. Empty cells inside a row are "".
func render(v any, valueRender string) any {
	if v == nil {
		return ""
	}
	if c, ok := v.(Cell); ok {
		if valueRender == formattedValue {
			return c.Text
		}
		return render(c.Value, valueRender)
	}
	if valueRender == formattedValue {
		return formatCell(v)
	}
	switch x := v.(type) {
	case string, bool, float64, json.Number:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return float64(x)
	}
	return formatCell(v)
}

// formatCell is how a cell without a format of its own (not a Cell) is shown, as Sheets'
// automatic format shows it: integers without a decimal point (up to 15 digits; beyond, in
// scientific notation such as 1.23457E+15), other numbers in the shortest exact form.
func formatCell(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "TRUE"
		}
		return "FALSE"
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return "#NUM!"
		case math.Abs(x) >= 1e15:
			return sheetsScientific(x)
		case x == math.Trunc(x):
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return formatCell(float64(x))
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

// sheetsScientific writes x as Sheets' automatic format writes large numbers: six significant
// digits at most, trailing zeros dropped, and a signed exponent of at least two digits
// (1.23457E+15, 1E+15).
func sheetsScientific(x float64) string {
	s := strconv.FormatFloat(x, 'E', 5, 64) // e.g. 1.23457E+15
	mant, exp, _ := strings.Cut(s, "E")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	return mant + "E" + exp
}

// cloneGrid deep-copies a grid so later changes by the test don't reach served data.
func cloneGrid(grid [][]any) [][]any {
	out := make([][]any, len(grid))
	for i, row := range grid {
		out[i] = append([]any(nil), row...)
	}
	return out
}
