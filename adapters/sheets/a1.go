package sheets

import (
	"strconv"
	"strings"
)

// columnLetters turns a 0-based column index into A1 letters: 0 → A, 25 → Z, 26 → AA,
// 66 → BO, 67 → BP.
func columnLetters(col int) string {
	if col < 0 {
		return "?"
	}
	var b []byte
	for n := col + 1; n > 0; n = (n - 1) / 26 {
		b = append(b, byte('A'+(n-1)%26))
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// quoteSheet quotes a sheet name for A1 notation: always single-quoted, with a quote inside
// the name doubled ("It's" → 'It”s'), which is valid for every name.
func quoteSheet(name string) string {
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// columnRange is the A1 range of a whole column: 'Operaciones'!G:G.
func columnRange(sheet string, col int) string {
	l := columnLetters(col)
	return quoteSheet(sheet) + "!" + l + ":" + l
}

// headerRange is the A1 range of row 1: 'Operaciones'!1:1.
func headerRange(sheet string) string { return quoteSheet(sheet) + "!1:1" }

// rangeStartRow returns the 1-based first row of a range the API answered with, such as
// "Operaciones!G1:G1000" or "'It”s'!G2:G9"; 1 when it names no row.
func rangeStartRow(a1 string) int {
	cells := a1[strings.LastIndexByte(a1, '!')+1:]
	start, _, _ := strings.Cut(cells, ":")
	i := 0
	for i < len(start) && (start[i] < '0' || start[i] > '9') {
		i++
	}
	n, err := strconv.Atoi(start[i:])
	if err != nil || n < 1 {
		return 1
	}
	return n
}
