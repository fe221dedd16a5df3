package sheetsemu

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
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

// isEmpty reports whether a cell is blank to the API: no value or an empty string.
func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == ""
}

// render turns a grid cell into its JSON value: with FORMATTED_VALUE everything is a string;
// otherwise numbers stay numbers and booleans booleans. Empty cells inside a row are "".
func render(v any, valueRender string) any {
	if v == nil {
		return ""
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

// formatCell is the emulator's stand-in for a cell's display format (no formats are kept):
// integers without a decimal point, other numbers in the shortest exact form.
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
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
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

// cloneGrid deep-copies a grid so later changes by the test don't reach served data.
func cloneGrid(grid [][]any) [][]any {
	out := make([][]any, len(grid))
	for i, row := range grid {
		out[i] = append([]any(nil), row...)
	}
	return out
}
