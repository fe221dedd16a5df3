package sheets

import (
	"strconv"
	"strings"
	"unicode"
)

// Header names of the columns the reconciler reads, as the real sheet spells them. Matching
// is on the normalized form (see MapHeader), so "Ocupado Por" or "ocupado/por" match too.
const (
	HeaderTag      = "TAG_SPOOL"
	HeaderTagAlias = "SPLIT" // the tag column only where no TAG_SPOOL column exists
	HeaderHolder   = "Ocupado_Por"
	HeaderDate     = "Fecha_Ocupacion"
)

// Columns says where the needed columns are in the sheet: 0-based indexes into row 1.
type Columns struct {
	Tag    int
	Holder int
	Date   int
	// TagHeader is the header cell the tag column was found by: TAG_SPOOL, or SPLIT.
	TagHeader string
}

// indexes returns the three column indexes in reading order: tag, holder, date.
func (c Columns) indexes() [3]int { return [3]int{c.Tag, c.Holder, c.Date} }

// MissingColumnsError is MapHeader's error: the header row lacks needed columns.
type MissingColumnsError struct {
	Missing []string // needed header names not found, as the real sheet spells them
	Found   []string // the non-empty header cells, in column order
}

func (e *MissingColumnsError) Error() string {
	var b strings.Builder
	b.WriteString("sheet header has no column ")
	for i, m := range e.Missing {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(m))
		if m == HeaderTag {
			b.WriteString(" (or " + strconv.Quote(HeaderTagAlias) + ")")
		}
	}
	b.WriteString(" (names are compared in lower case without spaces, _ or /); headers found")
	if len(e.Found) == 0 {
		b.WriteString(": none (row 1 is empty)")
		return b.String()
	}
	b.WriteString(" (" + strconv.Itoa(len(e.Found)) + "): ")
	const limit = 100
	for i, f := range e.Found {
		if i == limit {
			b.WriteString(", … " + strconv.Itoa(len(e.Found)-limit) + " more")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(f))
	}
	return b.String()
}

// MapHeader finds the needed columns in the header row (row 1) by normalized name: lower
// case, with spaces, "_" and "/" removed and accents kept as is ("Ubicación" stays
// "ubicación"). The tag column is TAG_SPOOL; SPLIT is taken only when no TAG_SPOOL column
// exists (the real sheet has both, and there SPLIT holds split numbers). When a name appears
// more than once, the leftmost column wins, as in the backend's lookup. Header cells that are
// numbers are compared as CellText shows them. A missing column is a *MissingColumnsError
// naming it and listing the headers found.
func MapHeader(header []any) (Columns, error) {
	first := make(map[string]int, len(header))
	found := make([]string, 0, len(header))
	for i, cell := range header {
		text := CellText(cell)
		if strings.TrimSpace(text) != "" {
			found = append(found, text)
		}
		key := normalizeHeader(text)
		if _, dup := first[key]; !dup && key != "" {
			first[key] = i
		}
	}
	var cols Columns
	var missing []string
	lookup := func(name string) int {
		if i, ok := first[normalizeHeader(name)]; ok {
			return i
		}
		return -1
	}
	if cols.Tag = lookup(HeaderTag); cols.Tag >= 0 {
		cols.TagHeader = HeaderTag
	} else if cols.Tag = lookup(HeaderTagAlias); cols.Tag >= 0 {
		cols.TagHeader = HeaderTagAlias
	} else {
		missing = append(missing, HeaderTag)
	}
	if cols.Holder = lookup(HeaderHolder); cols.Holder < 0 {
		missing = append(missing, HeaderHolder)
	}
	if cols.Date = lookup(HeaderDate); cols.Date < 0 {
		missing = append(missing, HeaderDate)
	}
	if len(missing) > 0 {
		return Columns{}, &MissingColumnsError{Missing: missing, Found: found}
	}
	return cols, nil
}

// normalizeHeader is the form header names are compared in: lower case, with white space,
// "_" and "/" removed. Accents are kept: "Ubicación" and "Ubicacion" are different names.
func normalizeHeader(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsSpace(r) || r == '_' || r == '/' {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
