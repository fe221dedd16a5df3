package sheetsemu

import (
	"fmt"
	"strings"
)

// a1Range is a parsed A1 range: a sheet name and a rectangle of 0-based, inclusive bounds.
// Open bounds (a whole column "G:G", a whole row "1:1", a whole sheet "Operaciones") are
// marked by -1 and are closed against the sheet's size when the range is served.
type a1Range struct {
	sheet    string // unquoted; "" means the first sheet
	startRow int
	startCol int
	endRow   int // -1: to the last row
	endCol   int // -1: to the last column
}

// parseA1 parses the ranges the Sheets API accepts: "Sheet!A1:C10", "'My Tab'!G:G",
// "Sheet!1:1", "Sheet!BO:BP", "Sheet!A5:C" (open-ended), "Sheet!A1" (one cell), "Sheet" (the
// whole sheet) and "A1:C10" (the first sheet).
func parseA1(s string) (a1Range, error) {
	r := a1Range{endRow: -1, endCol: -1}
	if s == "" {
		return r, fmt.Errorf("empty range")
	}
	cells := s
	switch {
	case strings.HasPrefix(s, "'"):
		name, rest, err := unquoteSheet(s)
		if err != nil {
			return r, err
		}
		r.sheet = name
		if rest == "" {
			return r, nil // the whole sheet
		}
		if !strings.HasPrefix(rest, "!") {
			return r, fmt.Errorf("unexpected %q after the quoted sheet name", rest)
		}
		cells = rest[1:]
	case strings.Contains(s, "!"):
		i := strings.LastIndexByte(s, '!')
		r.sheet, cells = s[:i], s[i+1:]
		if r.sheet == "" {
			return r, fmt.Errorf("empty sheet name")
		}
	default:
		// Either a bare sheet name or a bare cell range. The API prefers the cell range when
		// the text parses as one; a sheet called "A1" must be quoted.
		if _, _, err := parseCells(s); err != nil {
			r.sheet = s
			return r, nil
		}
	}
	if cells == "" {
		return r, fmt.Errorf("empty cell range")
	}
	start, end, err := parseCells(cells)
	if err != nil {
		return r, err
	}
	r.startRow, r.startCol, r.endRow, r.endCol = start.row, start.col, end.row, end.col
	if r.startRow < 0 {
		r.startRow = 0
	}
	if r.startCol < 0 {
		r.startCol = 0
	}
	if (r.endRow >= 0 && r.endRow < r.startRow) || (r.endCol >= 0 && r.endCol < r.startCol) {
		// The API swaps reversed corners; so do we.
		if r.endRow >= 0 && r.endRow < r.startRow {
			r.startRow, r.endRow = r.endRow, r.startRow
		}
		if r.endCol >= 0 && r.endCol < r.startCol {
			r.startCol, r.endCol = r.endCol, r.startCol
		}
	}
	return r, nil
}

// unquoteSheet reads a single-quoted sheet name (a quote inside it is doubled) at the start of s
// and returns the name and what follows the closing quote.
func unquoteSheet(s string) (name, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if b.Len() == 0 {
			return "", "", fmt.Errorf("empty quoted sheet name")
		}
		return b.String(), s[i+1:], nil
	}
	return "", "", fmt.Errorf("unterminated quoted sheet name")
}

// cellRef is one corner of a range; -1 marks a missing row or column.
type cellRef struct{ row, col int }

// parseCells parses "A1:C10", "G:G", "1:1", "A5:C", "A1".
func parseCells(s string) (start, end cellRef, err error) {
	a, b, two := strings.Cut(s, ":")
	start, err = parseCellRef(a)
	if err != nil {
		return start, end, err
	}
	if !two {
		if start.row < 0 || start.col < 0 {
			return start, end, fmt.Errorf("%q is not a cell", s)
		}
		return start, start, nil
	}
	end, err = parseCellRef(b)
	if err != nil {
		return start, end, err
	}
	// "G:G", "1:1", "A5:C" are fine; "G:1" and "1:G" are not.
	switch {
	case start.col < 0 && end.col >= 0, start.row < 0 && end.col < 0:
		return start, end, fmt.Errorf("%q mixes a row and a column", s)
	}
	return start, end, nil
}

// parseCellRef parses "BO12", "BO" or "12" into 0-based indexes.
func parseCellRef(s string) (cellRef, error) {
	ref := cellRef{row: -1, col: -1}
	i := 0
	for i < len(s) && isLetter(s[i]) {
		i++
	}
	if i > 0 {
		if i > 3 {
			return ref, fmt.Errorf("column %q is too wide", s[:i])
		}
		ref.col = 0
		for _, c := range strings.ToUpper(s[:i]) {
			ref.col = ref.col*26 + int(c-'A'+1)
		}
		ref.col--
	}
	digits := s[i:]
	if digits != "" {
		n := 0
		for j := 0; j < len(digits); j++ {
			if digits[j] < '0' || digits[j] > '9' || j > 7 {
				return ref, fmt.Errorf("bad row in %q", s)
			}
			n = n*10 + int(digits[j]-'0')
		}
		if n == 0 {
			return ref, fmt.Errorf("row 0 in %q", s)
		}
		ref.row = n - 1
	}
	if ref.row < 0 && ref.col < 0 {
		return ref, fmt.Errorf("empty cell reference")
	}
	return ref, nil
}

func isLetter(c byte) bool { return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') }

// columnLetters turns a 0-based column index into A1 letters (0 → A, 26 → AA, 66 → BO).
func columnLetters(col int) string {
	var b []byte
	for col++; col > 0; col = (col - 1) / 26 {
		b = append([]byte{byte('A' + (col-1)%26)}, b...)
	}
	return string(b)
}

// quoteSheetForResponse quotes a sheet name the way the API does in the "range" field of a
// response: plain names stay bare, anything else is single-quoted with inner quotes doubled.
func quoteSheetForResponse(name string) string {
	plain := name != ""
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}
