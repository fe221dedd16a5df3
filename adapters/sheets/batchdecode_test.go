package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	sheetsapi "google.golang.org/api/sheets/v4"
)

// decodeLikeClient decodes body as the Sheets client's Do does (gensupport.DecodeResponseBytes:
// encoding/json into a *BatchGetValuesResponse).
func decodeLikeClient(body []byte) (*sheetsapi.BatchGetValuesResponse, error) {
	var ret *sheetsapi.BatchGetValuesResponse
	err := json.Unmarshal(body, &ret)
	return ret, err
}

// checkAgainstClient is the differential check of decodeBatchColumns: when it accepts body,
// encoding/json accepts body too, the client decodes the stripped body without error, and
// that result with the decoded cells put back equals encoding/json's result on body (cells,
// ranges, nil and empty lists alike). It reports whether the decoder accepted.
func checkAgainstClient(t *testing.T, body string) bool {
	t.Helper()
	ranges, stripped, why := decodeBatchColumns(body)
	if why != "" {
		if ranges != nil || stripped != nil {
			t.Fatalf("declined (%s) but returned a result", why)
		}
		return false // the transport passes body to the client untouched (checked by checkTransport)
	}
	want, err := decodeLikeClient([]byte(body))
	if err != nil {
		t.Fatalf("decoder accepted %q, encoding/json rejects it: %v", body, err)
	}
	got, err := decodeLikeClient(stripped)
	if err != nil {
		t.Fatalf("the client cannot decode the stripped body %q: %v", stripped, err)
	}
	if got == nil || want == nil {
		t.Fatalf("nil response: got %v, want %v", got, want)
	}
	if len(ranges) != len(got.ValueRanges) {
		t.Fatalf("%d decoded ranges, the client's %d", len(ranges), len(got.ValueRanges))
	}
	for i, vr := range got.ValueRanges {
		if vr.Values != nil {
			t.Fatalf("range %d: values left in the stripped body: %v", i, vr.Values)
		}
		if ranges[i] != nil {
			vr.Values = make([][]any, len(ranges[i]))
			for j, line := range ranges[i] {
				vr.Values[j] = make([]any, len(line))
				for k, c := range line {
					vr.Values[j][k] = c
				}
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Fatalf("body %q:\nfast   %s\nclient %s", body, gj, wj)
	}
	return true
}

// checkTransport sends body through columnsTransport as a 200 batchGet answer and checks what
// the client would read: the stripped body when the decoder took it, body byte for byte when
// it declined.
func checkTransport(t *testing.T, body string) {
	t.Helper()
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Length": {strconv.Itoa(len(body))}},
			ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	})
	sink := &columnsSink{}
	req, _ := http.NewRequestWithContext(withColumnsSink(context.Background(), sink), "GET", "http://sheets.test/v4/spreadsheets/x/values:batchGet", nil)
	resp, err := (&columnsTransport{base: base}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != int64(len(got)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(got)) {
		t.Fatalf("Content-Length %d / %q for a body of %d bytes", resp.ContentLength, resp.Header.Get("Content-Length"), len(got))
	}
	_, stripped, why := decodeBatchColumns(body)
	switch {
	case sink.taken && why == "" && string(got) == string(stripped):
	case !sink.taken && why != "" && sink.declined == why && string(got) == body:
	default:
		t.Fatalf("taken %v (declined %q, decoder %q): the client read %q", sink.taken, sink.declined, why, got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// batchJSON is a batchGet answer with the given "values" members (raw JSON, "" for none).
func batchJSON(values ...string) string {
	var b strings.Builder
	b.WriteString(`{"spreadsheetId":"s","valueRanges":[`)
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"range":"'Operaciones'!G1:G` + strconv.Itoa(i+3) + `","majorDimension":"COLUMNS"`)
		if v != "" {
			b.WriteString(`,"values":` + v)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestDecodeBatchColumns(t *testing.T) {
	body := `{"spreadsheetId":"s","valueRanges":[` +
		`{"range":"'Operaciones'!G1:G4","majorDimension":"COLUMNS","values":[["TAG_SPOOL","MK-1","","MK-3"]]},` +
		`{"range":"'Operaciones'!BO1:BO2","majorDimension":"COLUMNS","values":[["Ocupado_Por","MR(93)"]]},` +
		`{"range":"'Operaciones'!BP1:BP1000","majorDimension":"COLUMNS"},` +
		`{"range":"'Operaciones'!A1:C1","majorDimension":"COLUMNS","values":[["id"],[],["TAG_SPOOL"]]}]}`
	ranges, stripped, why := decodeBatchColumns(body)
	if why != "" {
		t.Fatal(why)
	}
	want := [][][]string{
		{{"TAG_SPOOL", "MK-1", "", "MK-3"}},
		{{"Ocupado_Por", "MR(93)"}},
		nil, // no values: an empty column
		{{"id"}, {}, {"TAG_SPOOL"}},
	}
	if !reflect.DeepEqual(ranges, want) {
		t.Errorf("ranges = %q, want %q", ranges, want)
	}
	wantStripped := `{"spreadsheetId":"s","valueRanges":[` +
		`{"range":"'Operaciones'!G1:G4","majorDimension":"COLUMNS","values":null},` +
		`{"range":"'Operaciones'!BO1:BO2","majorDimension":"COLUMNS","values":null},` +
		`{"range":"'Operaciones'!BP1:BP1000","majorDimension":"COLUMNS"},` +
		`{"range":"'Operaciones'!A1:C1","majorDimension":"COLUMNS","values":null}]}`
	if string(stripped) != wantStripped {
		t.Errorf("stripped =\n%s\nwant\n%s", stripped, wantStripped)
	}
	checkAgainstClient(t, body)
	checkTransport(t, body)
}

// TestDecodeBatchColumnsEscapes: every JSON escape, surrogate pairs and the odd cases
// encoding/json answers with U+FFFD.
func TestDecodeBatchColumnsEscapes(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`"plain"`, "plain"},
		{`""`, ""},
		{`"a\"b\\c\/d"`, `a"b\c/d`},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{`"Ubicaci\u00f3n"`, "Ubicación"},
		{`"Ubicación ñandú"`, "Ubicación ñandú"},
		{`"\u00F3\u00f3"`, "óó"},
		{`"\u0000"`, "\x00"},
		{`"\ud83d\ude00 emoji"`, "😀 emoji"},
		{`"😀"`, "😀"},
		{`"\ud83d"`, "\uFFFD"},              // a lone high surrogate
		{`"\ude00x"`, "\uFFFDx"},            // a lone low surrogate
		{`"\ud83d\u0041"`, "\uFFFDA"},       // high, then not a low one
		{`"\ud83d\ud83d\ude00"`, "\uFFFD😀"}, // high, then a pair
		{`"\ud83dx"`, "\uFFFDx"},
		{"\"\xff\xfeok\"", "\uFFFD\uFFFDok"},       // invalid UTF-8
		{"\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD"}, // a surrogate encoded in UTF-8
		{"\"caf\xc3\"", "caf\uFFFD"},               // truncated sequence
		{`"\u2028\u2029"`, "\u2028\u2029"},
		{`"tab	inside"`, ""}, // a raw control character: declined
	} {
		body := batchJSON(`[[` + c.json + `]]`)
		ranges, _, why := decodeBatchColumns(body)
		if strings.ContainsAny(c.json, "\t") {
			if why == "" {
				t.Errorf("%s: accepted a raw control character", c.json)
			}
			continue
		}
		if why != "" {
			t.Errorf("%s: declined: %s", c.json, why)
			continue
		}
		if got := ranges[0][0][0]; got != c.want {
			t.Errorf("%s = %q, want %q", c.json, got, c.want)
		}
		checkAgainstClient(t, body)
		checkTransport(t, body)
	}
}

// TestDecodeBatchColumnsShapes: white space, empty and missing values, ragged ranges, unknown
// fields; and what is declined.
func TestDecodeBatchColumnsShapes(t *testing.T) {
	accepted := []string{
		batchJSON(`[["a","b","c"]]`, `[["x"]]`, ``, `[["h1"],[],["h3"]]`), // ragged, one column empty
		batchJSON(`[]`, `[[]]`, `null`),
		batchJSON(),
		`{"valueRanges":[]}`,
		`{}`,
		`{"spreadsheetId":"s"}`,
		" \n\t{ \"spreadsheetId\" : \"s\" ,\r\n \"valueRanges\" : [ { \"values\" : [ [ \"a\" , \"b\" ] , [ ] ] , \"range\" : \"A1:B2\" } ] } \n",
		`{"valueRanges":[{"values":[["a"]],"etag":{"x":[1,-2.5e+3,true,false,null,{"y":"z"}]}}],"kind":"sheets#x","n":0}`,
		`{"valueRanges":[{"values":[["a"]]}],"-":1,"spreadsheetid2":"x","":"empty key"}`,
		`{"valueRanges":[{"values":[["a"]]}],"x":[[[[[[[[[[]]]]]]]]]]}`,
		`{"valueRanges":[{"values":[["a"]]}],"n":[0,-0,1.5,1e9,1E-9,-12.25e+2]}`,
		batchJSON(`[["` + strings.Repeat("long ", 1000) + `"]]`),
	}
	for _, body := range accepted {
		if !checkAgainstClient(t, body) {
			_, _, why := decodeBatchColumns(body)
			t.Errorf("declined %.80q: %s", body, why)
		}
		checkTransport(t, body)
	}
	declined := []string{
		``,
		` `,
		`null`,
		`[]`,
		"\uFEFF{}",                 // a BOM: encoding/json rejects it too
		batchJSON(`[["a",1]]`),     // a number
		batchJSON(`[["a",true]]`),  // a boolean
		batchJSON(`[["a",null]]`),  // null cell
		batchJSON(`[[["a"]]]`),     // nested list
		batchJSON(`[[{"a":"b"}]]`), // object
		batchJSON(`[null]`),        // null line
		batchJSON(`["a"]`),         // a line that is not a list
		batchJSON(`{"a":"b"}`),     // values not a list
		batchJSON(`"nope"`),        // values not a list
		`{"valueRanges":"nope"}`,   // as in TestAPIBrokenBody
		`{"valueRanges":[null]}`,   // a null value range
		`{"valueRanges":[1]}`,      // not an object
		`{"valueRanges":{}}`,       // not a list
		`{"valueRanges":null}`,     // null: left to the client
		`{"valueRanges":[{"values":[["a"]],"values":[["b"]]}]}`, // given twice
		`{"valueRanges":[],"valueRanges":[]}`,
		`{"spreadsheetId":"a","spreadsheetId":"b"}`,
		`{"valueRanges":[{"range":"a","range":"b"}]}`,
		`{"valueRanges":[{"Values":[["a"]]}]}`, // encoding/json matches names ignoring case
		`{"ValueRanges":[]}`,
		`{"valueranges":[]}`,
		`{"value_ranges":[]}`,
		`{"valueRangeſ":[]}`, // ſ folds to s
		`{"SPREADSHEETID":"x"}`,
		`{"valueRanges":[{"RANGE":"x"}]}`,
		`{"valueRanges":[{"majordimension":"x"}]}`,
		`{"valueRanges":[{"range":1}]}`, // a type the client rejects
		`{"valueRanges":[{"majorDimension":null}]}`,
		`{"spreadsheetId":5}`,
		`{"valueRanges":[{"values":[["a"]]}]`,                // truncated
		`{"spreadsheetId":"s","valueRanges":[{"range":"Oper`, // truncated in a string
		`{"valueRanges":[{"values":[["a\`,                    // truncated in an escape
		`{"valueRanges":[{"values":[["\u12"]]}]}`,            // short \u
		`{"valueRanges":[{"values":[["\x"]]}]}`,              // bad escape
		`{"valueRanges":[{"values":[["\uzzzz"]]}]}`,          // bad hex
		`{"valueRanges":[{"values":[["a"]]}]}x`,              // data after
		`{"valueRanges":[{"values":[["a"]]}]}{}`,
		`{"valueRanges":[{"values":[["a",]]}]}`, // trailing comma
		`{"valueRanges":[{"values":[["a"],]}]}`,
		`{"valueRanges":[{"values":[["a"]]},]}`,
		`{"valueRanges":[{"values":[["a"]]}],}`,
		`{"valueRanges":[{"values":[["a" "b"]]}]}`,
		`{"valueRanges" [] }`,
		`{valueRanges:[]}`,
		`{'valueRanges':[]}`,
		`{"x":01}`, `{"x":1.}`, `{"x":.5}`, `{"x":1e}`, `{"x":-}`, `{"x":+1}`, `{"x":tru}`, `{"x":nul}`, `{"x":NaN}`,
		`{"x":[1 2]}`,
		`{"x":` + strings.Repeat("[", maxSkipDepth+5) + strings.Repeat("]", maxSkipDepth+5) + `}`, // deeper than walked
		"{\"x\":\"a\x01b\"}", // a raw control character in an unknown field
	}
	for _, body := range declined {
		if checkAgainstClient(t, body) {
			t.Errorf("accepted %.80q", body)
		}
		checkTransport(t, body)
	}
}

// TestColumnsTransportPassesThrough: other answers reach the client as they came.
func TestColumnsTransportPassesThrough(t *testing.T) {
	good := batchJSON(`[["a"]]`)
	type answer struct {
		status int
		header http.Header
		path   string
		sink   bool
	}
	for name, a := range map[string]answer{
		"no sink":          {200, http.Header{}, "/v4/spreadsheets/x/values:batchGet", false},
		"not batchGet":     {200, http.Header{}, "/v4/spreadsheets/x/values/A1", true},
		"error status":     {500, http.Header{}, "/v4/spreadsheets/x/values:batchGet", true},
		"not modified":     {304, http.Header{}, "/v4/spreadsheets/x/values:batchGet", true},
		"still gzip'd":     {200, http.Header{"Content-Encoding": {"gzip"}}, "/v4/spreadsheets/x/values:batchGet", true},
		"still br-encoded": {200, http.Header{"Content-Encoding": {"br"}}, "/v4/spreadsheets/x/values:batchGet", true},
	} {
		body := io.NopCloser(strings.NewReader(good))
		base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: a.status, Header: a.header, ContentLength: -1, Body: body, Request: req}, nil
		})
		ctx, sink := context.Background(), &columnsSink{}
		if a.sink {
			ctx = withColumnsSink(ctx, sink)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://sheets.test"+a.path, nil)
		resp, err := (&columnsTransport{base: base}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body != body || sink.taken || resp.ContentLength != -1 {
			t.Errorf("%s: the answer was touched (taken %v)", name, sink.taken)
		}
	}

	// A transport error is returned as it is.
	boom := errors.New("connection reset")
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, boom })
	req, _ := http.NewRequestWithContext(withColumnsSink(context.Background(), &columnsSink{}), "GET", "http://sheets.test/v4/spreadsheets/x/values:batchGet", nil)
	if _, err := (&columnsTransport{base: base}).RoundTrip(req); err != boom {
		t.Errorf("err = %v", err)
	}

	// A body that breaks midway: the client reads the same bytes, then the same error.
	base = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: 100,
			Body: io.NopCloser(io.MultiReader(strings.NewReader(good[:10]), errorReader{io.ErrUnexpectedEOF})), Request: req}, nil
	})
	sink := &columnsSink{}
	req, _ = http.NewRequestWithContext(withColumnsSink(context.Background(), sink), "GET", "http://sheets.test/v4/spreadsheets/x/values:batchGet", nil)
	resp, err := (&columnsTransport{base: base}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if string(got) != good[:10] || err != io.ErrUnexpectedEOF || sink.taken {
		t.Errorf("broken body: read %q, %v (taken %v)", got, err, sink.taken)
	}
}

// FuzzDecodeBatchColumns is the differential test of the batchGet decoder against
// encoding/json (the Sheets client's decoder): on any input either the decoder declines and
// the client gets the body untouched, or the cells it gives plus the client's decoding of the
// stripped body equal encoding/json's decoding of the whole body.
func FuzzDecodeBatchColumns(f *testing.F) {
	f.Add(batchJSON(`[["TAG_SPOOL","MK-1","","MK-3"]]`, `[["Ocupado_Por","MR(93)"]]`, ``, `[["id"],[],["TAG_SPOOL"]]`))
	f.Add(batchJSON(`[["a\"b\\c\/d\b\f\n\r\t\u00f3\ud83d\ude00\ud83d"]]`))
	f.Add("{\"valueRanges\":[{\"values\":[[\"\xff\xed\xa0\x80caf\xc3\"]]}]}")
	f.Add(" \n\t{ \"spreadsheetId\" : \"s\" ,\r\n \"valueRanges\" : [ { \"values\" : [ [ \"a\" , \"b\" ] , [ ] ] } ] } ")
	f.Add(`{"valueRanges":[{"values":[["a"]],"etag":{"x":[1,-2.5e+3,true,false,null,{"y":"z"}]}}],"kind":"k"}`)
	f.Add(`{"valueRanges":[{"Values":[["a"]]}]}`)
	f.Add(`{"valueRanges":[{"values":[["a",1]]}]}`)
	f.Add(`{"valueRanges":[{"values":[["a"]],"values":null}]}`)
	f.Add(`{"valueRanges":[{"values":null,"range":"x"}],"spreadsheetId":"y"}`)
	f.Fuzz(func(t *testing.T, body string) {
		checkAgainstClient(t, body)
		checkTransport(t, body)
	})
}

// TestReadBody: readBody reads what io.ReadAll reads, with or without a length, in any pieces,
// and returns the bytes read before an error with the error.
func TestReadBody(t *testing.T) {
	for _, n := range []int{0, 1, 100, 32<<10 - 1, 32 << 10, 32<<10 + 1, 3 << 20} {
		data := strings.Repeat("0123456789abcdef", n/16+1)[:n]
		for name, r := range map[string]func() io.Reader{
			"plain":    func() io.Reader { return strings.NewReader(data) },
			"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(data)) },
			"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(data)) },
			"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(data)) },
		} {
			if n > 1<<20 && name == "one byte" {
				continue
			}
			for _, size := range []int64{-1, int64(n), int64(n) + 10, int64(n) - 1} {
				got, err := readBody(r(), size)
				if err != nil || got != data {
					t.Fatalf("%d bytes, %s, size %d: read %d bytes, %v", n, name, size, len(got), err)
				}
			}
		}
		boom := errors.New("connection reset")
		for _, size := range []int64{-1, int64(n) + 5} {
			got, err := readBody(io.MultiReader(strings.NewReader(data), iotest.ErrReader(boom)), size)
			if err != boom || got != data {
				t.Fatalf("%d bytes then an error, size %d: read %d bytes, %v", n, size, len(got), err)
			}
		}
	}
}

// quoteJSON writes s as a JSON string in one of several valid forms: as encoding/json writes it
// (HTML characters escaped, invalid UTF-8 as \ufffd), with only what must be escaped escaped
// (raw bytes kept, invalid UTF-8 included), or with every non-ASCII rune as \u escapes
// (surrogate pairs above U+FFFF) and every byte of invalid UTF-8 left raw.
func quoteJSON(s string, form int) string {
	switch form % 3 {
	case 0:
		b, _ := json.Marshal(s)
		return string(b)
	case 1:
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				b.WriteString(`\u00` + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16))
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(s[i])
		case r < 0x20 || r == '"' || r == '\\' || r >= 0x80:
			if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
				b.WriteString(`\u` + strconv.FormatInt(int64(r1)|0x10000, 16)[1:] + `\u` + strconv.FormatInt(int64(r2)|0x10000, 16)[1:])
			} else {
				b.WriteString(`\u` + strconv.FormatInt(int64(r)|0x10000, 16)[1:])
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzDecodeBatchText: an answer of the expected shape is taken whatever its cells hold and
// however they are escaped, with white space between the tokens or not, and gives
// encoding/json's cells.
func FuzzDecodeBatchText(f *testing.F) {
	f.Add("MK-1|MR(93)|13-05-2026 11:33:48", uint8(0))
	f.Add("a\"b\\c\x01\n|Peñalolén|😀 \u2028<&>", uint8(1))
	f.Add("\xff\xfe|\xed\xa0\x80|caf\xc3", uint8(2))
	f.Add("||", uint8(7))
	f.Fuzz(func(t *testing.T, cells string, form uint8) {
		sp := ""
		if form&4 != 0 {
			sp = " \n\t"
		}
		var b strings.Builder
		b.WriteString(`{"spreadsheetId":"s",` + sp + `"valueRanges":[{"range":"A1:A9","values":[` + sp + `[`)
		for i, c := range strings.Split(cells, "|") {
			if i > 0 {
				b.WriteString(sp + "," + sp)
			}
			b.WriteString(quoteJSON(c, int(form)+i))
		}
		b.WriteString(`]` + sp + `]},{"values":[[],[` + quoteJSON(cells, int(form)) + `]]}]}`)
		body := b.String()
		if !checkAgainstClient(t, body) {
			_, _, why := decodeBatchColumns(body)
			t.Fatalf("declined %q: %s", body, why)
		}
	})
}
