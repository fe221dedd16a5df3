package sheets

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeBatchColumns reads a values.batchGet answer of text cells, the shape the steady-state
// read gets:
//
//	{"spreadsheetId":"…","valueRanges":[{"range":"…","majorDimension":"COLUMNS","values":[["a","b",…],…]},…]}
//
// It returns, for each element of valueRanges in order, its "values" (nil when the element
// has none, or null), and stripped: body with every "values" array replaced by null, for the
// Sheets client to decode the rest (ranges, spreadsheet id) as usual.
//
// The cells are exactly what encoding/json gives for the same body (escapes, surrogate pairs
// and invalid UTF-8 replaced the same way) and share body's memory where they hold no escape.
// Anything it does not fully understand, or that encoding/json would read differently or
// reject, it declines: why is then a short reason (which names no cell text) and the caller
// hands the body unchanged to the client. Declined: a cell that is not a string (a number, a
// boolean, null, an object), "values" or valueRanges of another type, a key the client would
// match to a field without being its exact name (encoding/json matches names ignoring case),
// a field given twice, range, majorDimension or spreadsheetId not a string, invalid or
// truncated JSON, data after the object, nesting deeper than maxSkipDepth. Unknown fields are
// skipped (and checked to be valid JSON); white space may be anywhere JSON allows it.
func decodeBatchColumns(body string) (ranges [][][]string, stripped []byte, why string) {
	d := batchDecoder{s: body}
	// Every cell is a string and every string has two quotes: one allocation holds the cells
	// of all ranges (escaped quotes and the keys only make it a little larger).
	d.cells = make([]string, 0, strings.Count(body, `"`)/2)
	if !d.document() {
		return nil, nil, d.why
	}
	return d.ranges, d.strip(), ""
}

// maxSkipDepth bounds the nesting of unknown fields the decoder walks through (encoding/json
// allows 10,000; deeper documents are left to it).
const maxSkipDepth = 200

type batchDecoder struct {
	s      string
	i      int
	cells  []string // backing array of every column
	ranges [][][]string
	cuts   [][2]int // byte spans of the "values" arrays to replace with null
	why    string
}

func (d *batchDecoder) fail(why string) bool {
	if d.why == "" {
		d.why = why + " at byte " + strconv.Itoa(d.i)
	}
	return false
}

// ws skips JSON white space.
func (d *batchDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek is the byte at the cursor, 0 at the end.
func (d *batchDecoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *batchDecoder) document() bool {
	d.ws()
	ok := d.fields(map[string]func() bool{"valueRanges": d.valueRanges, "spreadsheetId": d.text})
	if !ok {
		return false
	}
	d.ws()
	if d.i != len(d.s) {
		return d.fail("data after the object")
	}
	return true
}

// fields reads an object whose known members are read by the given functions: each at most
// once; a key that encoding/json might take for one of them (resembles) declines, since the
// client would read it as that field; any other member is skipped.
func (d *batchDecoder) fields(known map[string]func() bool) bool {
	seen := make(map[string]bool, len(known))
	return d.object(func(key string) bool {
		if read, ok := known[key]; ok {
			if seen[key] {
				return d.fail(key + " given twice")
			}
			seen[key] = true
			return read()
		}
		for name := range known {
			if resembles(key, name) {
				return d.fail("a key spelled like a field but not as it")
			}
		}
		return d.skip(0)
	})
}

// resembles reports whether encoding/json might match key to the field name: same letters
// ignoring case (with Unicode folding, as encoding/json does), '-' and '_'.
func resembles(key, name string) bool {
	if strings.ContainsAny(key, "-_") {
		key = strings.NewReplacer("-", "", "_", "").Replace(key)
	}
	return strings.EqualFold(key, name)
}

// object reads an object at the cursor, calling member for each key with the cursor on its
// value; member must consume the value.
func (d *batchDecoder) object(member func(key string) bool) bool {
	return d.seq('{', '}', "an object", func() bool {
		if d.peek() != '"' {
			return d.fail("expected a key")
		}
		key, ok := d.str()
		if !ok {
			return false
		}
		d.ws()
		if d.peek() != ':' {
			return d.fail("expected ':'")
		}
		d.i++
		d.ws()
		return member(key)
	})
}

// list reads a JSON array at d.i whose elements elem reads (called at each element's first
// byte), what naming the array in errors.
func (d *batchDecoder) list(what string, elem func() bool) bool {
	return d.seq('[', ']', what, elem)
}

// seq reads what object and list share: open, then elements separated by commas, each read by
// elem (called at its first byte), then close; what names the sequence in errors.
func (d *batchDecoder) seq(open, close byte, what string, elem func() bool) bool {
	if d.peek() != open {
		return d.fail(fmt.Sprintf("%s does not start with %q", what, open))
	}
	d.i++
	d.ws()
	if d.peek() == close {
		d.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case close:
			d.i++
			return true
		default:
			return d.fail(fmt.Sprintf("expected ',' or %q in %s", close, what))
		}
	}
}

// valueRanges reads the array of value ranges.
func (d *batchDecoder) valueRanges() bool { return d.list("valueRanges", d.valueRange) }

// valueRange reads one element of valueRanges.
func (d *batchDecoder) valueRange() bool {
	if d.peek() != '{' {
		return d.fail("a value range that is not an object")
	}
	var values [][]string
	ok := d.fields(map[string]func() bool{
		"values": func() bool {
			var ok bool
			values, ok = d.values()
			return ok
		},
		"range":          d.text,
		"majorDimension": d.text,
	})
	if ok {
		d.ranges = append(d.ranges, values)
	}
	return ok
}

// values reads a "values" array of arrays of strings (or null) and marks it to be cut.
func (d *batchDecoder) values() ([][]string, bool) {
	start := d.i
	if strings.HasPrefix(d.s[d.i:], "null") {
		d.i += len("null")
		return nil, true
	}
	lines := [][]string{}
	ok := d.list("values", func() bool {
		line, ok := d.line()
		lines = append(lines, line)
		return ok
	})
	if !ok {
		return nil, false
	}
	d.cuts = append(d.cuts, [2]int{start, d.i})
	return lines, true
}

// line reads one column (or row) of cells: an array of strings, kept in d.cells.
func (d *batchDecoder) line() ([]string, bool) {
	from := len(d.cells)
	ok := d.list("a line of values", func() bool {
		if d.peek() != '"' {
			return d.fail("a cell that is not text")
		}
		v, ok := d.str()
		d.cells = append(d.cells, v)
		return ok
	})
	if !ok {
		return nil, false
	}
	n := len(d.cells)
	return d.cells[from:n:n], true
}

// text reads a value that must be a string (range, majorDimension, spreadsheetId: the client
// decodes them from the stripped body).
func (d *batchDecoder) text() bool {
	if d.peek() != '"' {
		return d.fail("a field that is not text")
	}
	_, ok := d.str()
	return ok
}

// plainByte marks the bytes a string may hold as they are: printable ASCII except '"' and
// '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at the cursor (on its opening quote) as encoding/json does. Without
// escapes and invalid UTF-8 it is a piece of the body; otherwise a new string.
func (d *batchDecoder) str() (string, bool) {
	s := d.s
	start := d.i + 1
	j := start
	for j < len(s) && plainByte[s[j]] {
		j++
	}
	if j < len(s) && s[j] == '"' {
		d.i = j + 1
		return s[start:j], true
	}
	// An escape, a control character, a non-ASCII byte or the end.
	plain := true
	for {
		if j >= len(s) {
			d.i = j
			return "", d.fail("unterminated string")
		}
		c := s[j]
		switch {
		case c == '"':
			d.i = j + 1
			if plain {
				return s[start:j], true
			}
			return unescape(s[start:j]), true
		case c == '\\':
			plain = false
			if j+1 >= len(s) {
				d.i = j
				return "", d.fail("unterminated string")
			}
			switch s[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s) || hex4(s[j+2:j+6]) < 0 {
					d.i = j
					return "", d.fail(`bad \u escape`)
				}
				j += 6
			default:
				d.i = j
				return "", d.fail("bad escape")
			}
		case c < 0x20:
			d.i = j
			return "", d.fail("control character in a string")
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size == 1 {
				plain = false // encoding/json writes U+FFFD for each invalid byte
			}
			j += size
		}
	}
}

// hex4 is the value of four hex digits, -1 if they are not.
func hex4(s string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unescape decodes the inside of a string already checked by str, as encoding/json's unquote
// does: a high surrogate followed by an escaped low one is one rune; any other surrogate, and
// each byte of invalid UTF-8, becomes U+FFFD.
func unescape(raw string) string {
	b := make([]byte, 0, len(raw))
	for r := 0; r < len(raw); {
		c := raw[r]
		switch {
		case c == '\\':
			e := raw[r+1]
			r += 2
			switch e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(raw[r : r+4])
				r += 4
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if r+6 <= len(raw) && raw[r] == '\\' && raw[r+1] == 'u' {
						rr1 = hex4(raw[r+2 : r+6])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			default: // '"', '\\', '/'
				b = append(b, e)
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRuneInString(raw[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b)
}

// skip checks and passes over any JSON value.
func (d *batchDecoder) skip(depth int) bool {
	if depth > maxSkipDepth {
		return d.fail("nested too deep")
	}
	switch c := d.peek(); {
	case c == '"':
		_, ok := d.str()
		return ok
	case c == '{':
		return d.object(func(string) bool { return d.skip(depth + 1) })
	case c == '[':
		return d.list("a list", func() bool { return d.skip(depth + 1) })
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return d.fail("expected a value")
}

func (d *batchDecoder) literal(word string) bool {
	if !strings.HasPrefix(d.s[d.i:], word) {
		return d.fail("bad literal")
	}
	d.i += len(word)
	return true
}

// number passes over a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *batchDecoder) number() bool {
	digits := func() int {
		n := 0
		for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case '1' <= c && c <= '9':
		digits()
	default:
		return d.fail("bad number")
	}
	if d.peek() == '.' {
		d.i++
		if digits() == 0 {
			return d.fail("bad number")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if digits() == 0 {
			return d.fail("bad number")
		}
	}
	return true
}

// strip is the body with every cut span replaced by null.
func (d *batchDecoder) strip() []byte {
	n := len(d.s)
	for _, c := range d.cuts {
		n -= c[1] - c[0] - len("null")
	}
	out := make([]byte, 0, n)
	at := 0
	for _, c := range d.cuts {
		out = append(out, d.s[at:c[0]]...)
		out = append(out, "null"...)
		at = c[1]
	}
	return append(out, d.s[at:]...)
}
