package sheets

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Header names of the columns the reconciler reads, as the real sheet spells them. Matching
// follows the backend's rule (see MapHeader), so "Ocupado Por" or "TAG_SPOOL / CODIGO_BARRA"
// match too.
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
	// TagHeader is the name the tag column was found by: TAG_SPOOL, or SPLIT.
	TagHeader string
	// Duplicates lists the needed names that more than one column answers to (the last one is
	// read, as the backend writes there), for a warning.
	Duplicates []Duplicate
	// Lenient lists the needed names found only by the lenient form (the backend's keys found
	// nothing), for a warning: the backend itself would not find those columns.
	Lenient []string
}

// Duplicate is a needed name that several header cells answer to.
type Duplicate struct {
	Name    string   // the needed name, as the real sheet spells it (HeaderHolder, ...)
	Columns []int    // 0-based indexes of every column answering to it, left to right
	Headers []string // those columns' header cells
	Used    int      // the column read: the last one
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
	b.WriteString(" (names are compared as the backend does: in lower case without spaces or _, and a header with / also by its part before the first /; then without any white space, _ or /); headers found")
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

// headerKeys maps each key to the columns that answer to it, left to right.
type headerKeys map[string][]int

func (k headerKeys) add(key string, col int) {
	cols := k[key]
	if n := len(cols); n > 0 && cols[n-1] == col {
		return // "a/a" keys its column once
	}
	k[key] = append(cols, col)
}

// MapHeader finds the needed columns in the header row (row 1) the way the backend finds the
// columns it writes (its build_column_map):
//
//   - every non-empty header cell is keyed by its text in lower case with the spaces (U+0020
//     only) and "_" removed; a cell containing "/" is also keyed by its part before the first
//     "/", trimmed: "TAG_SPOOL / CODIGO_BARRA" answers to TAG_SPOOL (its full key,
//     "tagspool/codigobarra", keeps the "/");
//   - when several columns answer to a key, the last one wins: the backend writes there;
//   - the tag column is TAG_SPOOL, then SPLIT only where no column answers to TAG_SPOOL (the
//     real sheet has both, and there SPLIT holds split numbers).
//
// Only where those keys find nothing is a lenient form tried, the last column again winning:
// lower case without any white space, "_" or "/" ("TAG/SPOOL", "Ocupado\u00a0Por").
// Accents are kept ("Ubicación" is not "Ubicacion"). Header cells that are numbers are
// compared as CellText shows them. A missing column is a *MissingColumnsError naming it and
// listing the headers found; needed names on several columns are listed in
// Columns.Duplicates, names found only leniently in Columns.Lenient.
func MapHeader(header []any) (Columns, error) {
	strict, lenient := headerKeys{}, headerKeys{}
	found := make([]string, 0, len(header))
	texts := make([]string, len(header))
	for i, cell := range header {
		text := CellText(cell)
		texts[i] = text
		if strings.TrimSpace(text) != "" {
			found = append(found, text)
		}
		if text == "" {
			continue // the backend skips empty cells
		}
		strict.add(backendKey(text), i)
		if slash := strings.IndexByte(text, '/'); slash >= 0 {
			strict.add(backendKey(pyStrip(text[:slash])), i)
		}
		if key := lenientKey(text); key != "" {
			lenient.add(key, i)
		}
	}

	var cols Columns
	var missing []string
	find := func(keys headerKeys, key func(string) string, names ...string) (string, []int) {
		for _, name := range names {
			if at := keys[key(name)]; len(at) > 0 {
				return name, at
			}
		}
		return "", nil
	}
	lookup := func(names ...string) (string, int) {
		name, at := find(strict, backendKey, names...)
		if at == nil {
			if name, at = find(lenient, lenientKey, names...); at != nil {
				cols.Lenient = append(cols.Lenient, name)
			}
		}
		if at == nil {
			return "", -1
		}
		used := at[len(at)-1]
		if len(at) > 1 {
			d := Duplicate{Name: name, Columns: at, Used: used}
			for _, c := range at {
				d.Headers = append(d.Headers, texts[c])
			}
			cols.Duplicates = append(cols.Duplicates, d)
		}
		return name, used
	}
	if cols.TagHeader, cols.Tag = lookup(HeaderTag, HeaderTagAlias); cols.Tag < 0 {
		missing = append(missing, HeaderTag)
	}
	if _, cols.Holder = lookup(HeaderHolder); cols.Holder < 0 {
		missing = append(missing, HeaderHolder)
	}
	if _, cols.Date = lookup(HeaderDate); cols.Date < 0 {
		missing = append(missing, HeaderDate)
	}
	if len(missing) > 0 {
		return Columns{}, &MissingColumnsError{Missing: missing, Found: found}
	}
	return cols, nil
}

// backendKey is the backend's normalization of a header (Python's name.lower() with " " and
// "_" removed). Python's lower() maps "İ" (U+0130) to "i" plus a combining dot, where Go's
// unicode.ToLower gives a plain "i": done the Python way, so "SPLİT" is not "split" here
// either. Other differences between the two lower-casings (the final sigma) never turn a
// header into one of the ASCII names looked up.
func backendKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r != ' ' && r != '_' {
			writeLower(&b, r)
		}
	}
	return b.String()
}

// writeLower writes r in lower case as Python's str.lower() does for the letters that matter.
func writeLower(b *strings.Builder, r rune) {
	if r == '\u0130' {
		b.WriteString("i\u0307")
		return
	}
	b.WriteRune(unicode.ToLower(r))
}

// pyStrip is Python's str.strip(): it also removes the separators U+001C…U+001F, which Go's
// unicode.IsSpace does not count as white space.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// lenientKey is the fallback form: lower case, with every white space, "_" and "/" removed.
// Accents are kept: "Ubicación" and "Ubicacion" are different names.
func lenientKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.IsSpace(r) && r != '_' && r != '/' {
			writeLower(&b, r)
		}
	}
	return b.String()
}

// headerWarnings logs, once per reader per header layout, the needed names found on several
// columns or only by the lenient form: a sheet keeps its header for months, and a warning on
// every read (every few seconds) would bury everything else. A nil *headerWarnings, or one
// without a logger, logs nothing.
type headerWarnings struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

func newHeaderWarnings(log *slog.Logger) *headerWarnings {
	return &headerWarnings{log: log, seen: map[string]bool{}}
}

// note logs cols' warnings unless this layout's were logged already.
func (w *headerWarnings) note(sheet string, cols Columns) {
	if w == nil || w.log == nil || (len(cols.Duplicates) == 0 && len(cols.Lenient) == 0) {
		return
	}
	layout := fmt.Sprint(cols.Duplicates, cols.Lenient, cols.indexes())
	w.mu.Lock()
	if w.seen[layout] {
		w.mu.Unlock()
		return
	}
	w.seen[layout] = true
	w.mu.Unlock()
	for _, d := range cols.Duplicates {
		var on []string
		for i, c := range d.Columns {
			on = append(on, fmt.Sprintf("%s %q", columnLetters(c), d.Headers[i]))
		}
		w.log.Warn("sheet header: a needed column name is on more than one column; reading the last, where the backend writes",
			"sheet", sheet, "name", d.Name, "columns", strings.Join(on, ", "), "reading", columnLetters(d.Used))
	}
	for _, name := range cols.Lenient {
		w.log.Warn("sheet header: a needed column was found only leniently (the backend's own lookup would not find it); check the header",
			"sheet", sheet, "name", name, "columns", describeColumns(cols))
	}
}
