package sheetsemu

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	sheets "google.golang.org/api/sheets/v4"

	adapter "reconciler/adapters/sheets"
)

func client(t *testing.T, e *Emulator) *sheets.Service {
	t.Helper()
	svc, err := sheets.NewService(context.Background(),
		option.WithEndpoint(e.Endpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("sheets.NewService: %v", err)
	}
	return svc
}

func TestParseA1(t *testing.T) {
	tests := []struct {
		in   string
		want a1Range
	}{
		{"'Operaciones'!G:G", a1Range{sheet: "Operaciones", startCol: 6, endCol: 6, endRow: -1}},
		{"Operaciones!BO:BP", a1Range{sheet: "Operaciones", startCol: 66, endCol: 67, endRow: -1}},
		{"'Operaciones'!1:1", a1Range{sheet: "Operaciones", endRow: 0, endCol: -1}},
		{"Sheet!A1:C10", a1Range{sheet: "Sheet", endRow: 9, endCol: 2}},
		{"'My Tab'!b2:c3", a1Range{sheet: "My Tab", startRow: 1, startCol: 1, endRow: 2, endCol: 2}},
		{"'It''s'!A:A", a1Range{sheet: "It's", endRow: -1}},
		{"'a!b'!A1", a1Range{sheet: "a!b"}},
		{"Sheet!A5:C", a1Range{sheet: "Sheet", startRow: 4, endCol: 2, endRow: -1}},
		{"Sheet!C3:A1", a1Range{sheet: "Sheet", endRow: 2, endCol: 2}},
		{"Operaciones", a1Range{sheet: "Operaciones", endRow: -1, endCol: -1}},
		{"'My Tab'", a1Range{sheet: "My Tab", endRow: -1, endCol: -1}},
		{"A1:B2", a1Range{endRow: 1, endCol: 1}},
		{"Sheet!AA1:ZZ2", a1Range{sheet: "Sheet", startCol: 26, endCol: 701, endRow: 1}},
	}
	for _, tt := range tests {
		got, err := parseA1(tt.in)
		if err != nil {
			t.Errorf("parseA1(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseA1(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "'unterminated!A1", "''!A1", "Sheet!", "Sheet!G:1", "Sheet!1:G", "Sheet!A0", "'x'y", "!A1", "Sheet!A1:B2:C3"} {
		if got, err := parseA1(bad); err == nil {
			t.Errorf("parseA1(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestColumnLetters(t *testing.T) {
	for col, want := range map[int]string{0: "A", 6: "G", 25: "Z", 26: "AA", 51: "AZ", 52: "BA", 66: "BO", 67: "BP", 74: "BW", 701: "ZZ", 702: "AAA"} {
		if got := columnLetters(col); got != want {
			t.Errorf("columnLetters(%d) = %q, want %q", col, got, want)
		}
		ref, err := parseCellRef(want)
		if err != nil || ref.col != col {
			t.Errorf("parseCellRef(%q) = %+v, %v; want col %d", want, ref, err, col)
		}
	}
}

func TestGridOnRealHeader(t *testing.T) {
	h := adapter.OperacionesHeader()
	for col, want := range map[int]string{6: ColTag, 66: ColHolder, 67: ColDate} {
		if h[col] != want {
			t.Fatalf("header %s = %q, want %q", columnLetters(col), h[col], want)
		}
	}
	g := Grid(h, Spool("T1", "MR(93)", 46155.5), nil, map[string]any{ColTag: "T3"})
	if len(g) != 4 || len(g[1]) != 68 || g[1][6] != "T1" || g[1][66] != "MR(93)" || g[1][67] != 46155.5 {
		t.Errorf("Grid row 2 = %v", g[1])
	}
	if len(g[2]) != 0 || len(g[3]) != 7 {
		t.Errorf("Grid rows 3, 4 have %d and %d cells, want 0 and 7", len(g[2]), len(g[3]))
	}
}

// sample is a small sheet with holes: an empty middle row, short rows, trailing "" cells and
// trailing empty rows, all of which the API leaves out or keeps the way it does.
func sample() [][]any {
	return [][]any{
		{"id", "TAG", "Holder", "Date"},
		{1, "T-1", "MR(93)", 46155.48180555556},
		{2, "T-2", "", nil},              // trailing empty cells
		{},                               // empty middle row
		{4, "T-4", "JP(7)", "", "", nil}, // trailing empty cells
		{nil, nil, "X(1)", true},         // leading empty cells
		{5.5, "T-6", nil, "13-05-2026 11:33"},
		{"", nil, ""}, // trailing empty rows
		{},
	}
}

func TestValuesGet(t *testing.T) {
	e := Start(t)
	e.SetSheet("Operaciones", sample())
	e.SetSheet("My 'Tab'", [][]any{{"a", "b"}, {"c"}})
	svc := client(t, e)
	ctx := context.Background()
	get := func(rng, dim, render string) *sheets.ValueRange {
		t.Helper()
		call := svc.Spreadsheets.Values.Get(e.SpreadsheetID(), rng).Context(ctx)
		if dim != "" {
			call = call.MajorDimension(dim)
		}
		if render != "" {
			call = call.ValueRenderOption(render)
		}
		vr, err := call.Do()
		if err != nil {
			t.Fatalf("get %s: %v", rng, err)
		}
		return vr
	}

	vr := get("'Operaciones'!1:1", "", "UNFORMATTED_VALUE")
	if !reflect.DeepEqual(vr.Values, [][]any{{"id", "TAG", "Holder", "Date"}}) || vr.MajorDimension != "ROWS" {
		t.Errorf("header row = %#v (%s)", vr.Values, vr.MajorDimension)
	}
	if vr.Range != "Operaciones!A1:F1" { // the grid is 6 wide
		t.Errorf("range = %q", vr.Range)
	}

	vr = get("Operaciones!A1:D10", "ROWS", "UNFORMATTED_VALUE")
	want := [][]any{
		{"id", "TAG", "Holder", "Date"},
		{1.0, "T-1", "MR(93)", 46155.48180555556},
		{2.0, "T-2"},
		{},
		{4.0, "T-4", "JP(7)"},
		{"", "", "X(1)", true},
		{5.5, "T-6", "", "13-05-2026 11:33"},
	}
	if !reflect.DeepEqual(vr.Values, want) {
		t.Errorf("ROWS values =\n%#v\nwant\n%#v", vr.Values, want)
	}

	vr = get("Operaciones!C:D", "COLUMNS", "UNFORMATTED_VALUE")
	want = [][]any{
		{"Holder", "MR(93)", "", "", "JP(7)", "X(1)"},
		{"Date", 46155.48180555556, "", "", "", true, "13-05-2026 11:33"},
	}
	if !reflect.DeepEqual(vr.Values, want) {
		t.Errorf("COLUMNS values =\n%#v\nwant\n%#v", vr.Values, want)
	}
	if vr.MajorDimension != "COLUMNS" {
		t.Errorf("majorDimension = %q", vr.MajorDimension)
	}

	vr = get("Operaciones!A:A", "COLUMNS", "FORMATTED_VALUE")
	want = [][]any{{"id", "1", "2", "", "4", "", "5.5"}}
	if !reflect.DeepEqual(vr.Values, want) {
		t.Errorf("FORMATTED column A = %#v, want %#v", vr.Values, want)
	}
	vr = get("Operaciones!D2", "", "")
	if !reflect.DeepEqual(vr.Values, [][]any{{"46155.48180555556"}}) {
		t.Errorf("default render = %#v, want formatted strings", vr.Values)
	}

	vr = get("Operaciones!E:F", "COLUMNS", "UNFORMATTED_VALUE")
	if vr.Values != nil {
		t.Errorf("empty columns = %#v, want no values", vr.Values)
	}

	vr = get("'My ''Tab'''!A1:B2", "", "UNFORMATTED_VALUE")
	if !reflect.DeepEqual(vr.Values, [][]any{{"a", "b"}, {"c"}}) || vr.Range != "'My ''Tab'''!A1:B2" {
		t.Errorf("quoted tab = %#v, range %q", vr.Values, vr.Range)
	}
	vr = get("A1:A1", "", "UNFORMATTED_VALUE")
	if !reflect.DeepEqual(vr.Values, [][]any{{"id"}}) {
		t.Errorf("no sheet name = %#v, want the first tab", vr.Values)
	}
}

func TestBatchGetAndCounters(t *testing.T) {
	e := Start(t)
	e.SetSheet("Operaciones", sample())
	svc := client(t, e)
	resp, err := svc.Spreadsheets.Values.BatchGet(e.SpreadsheetID()).
		Ranges("'Operaciones'!B:B", "'Operaciones'!D:D", "'Operaciones'!1:1").
		MajorDimension("COLUMNS").ValueRenderOption("UNFORMATTED_VALUE").
		DateTimeRenderOption("SERIAL_NUMBER").Context(context.Background()).Do()
	if err != nil {
		t.Fatal(err)
	}
	if resp.SpreadsheetId != e.SpreadsheetID() || len(resp.ValueRanges) != 3 {
		t.Fatalf("response = %+v", resp)
	}
	if got := resp.ValueRanges[0].Values; !reflect.DeepEqual(got, [][]any{{"TAG", "T-1", "T-2", "", "T-4", "", "T-6"}}) {
		t.Errorf("column B = %#v", got)
	}
	if got := resp.ValueRanges[1].Range; got != "Operaciones!D1:D9" {
		t.Errorf("column D range = %q", got)
	}
	if got := resp.ValueRanges[2].Values; !reflect.DeepEqual(got, [][]any{{"id"}, {"TAG"}, {"Holder"}, {"Date"}}) {
		t.Errorf("row 1 by columns = %#v", got)
	}
	reads := e.Reads()
	if e.Requests() != 1 || len(reads) != 1 {
		t.Fatalf("requests = %d, reads = %d", e.Requests(), len(reads))
	}
	r := reads[0]
	if r.Path != "/v4/spreadsheets/"+e.SpreadsheetID()+"/values:batchGet" || r.MajorDimension != "COLUMNS" ||
		r.ValueRenderOption != "UNFORMATTED_VALUE" || r.DateTimeRenderOption != "SERIAL_NUMBER" ||
		!reflect.DeepEqual(r.Ranges, []string{"'Operaciones'!B:B", "'Operaciones'!D:D", "'Operaciones'!1:1"}) {
		t.Errorf("recorded request = %+v", r)
	}
	if e.BytesServed() <= 0 {
		t.Errorf("BytesServed = %d", e.BytesServed())
	}
}

func TestErrors(t *testing.T) {
	e := Start(t)
	e.SetSheet("Operaciones", sample())
	svc := client(t, e)
	ctx := context.Background()

	_, err := svc.Spreadsheets.Values.Get(e.SpreadsheetID(), "'Nope'!A:A").Context(ctx).Do()
	if code, msg := apiError(t, err); code != http.StatusBadRequest || !strings.Contains(msg, "Unable to parse range") {
		t.Errorf("unknown sheet: %d %q", code, msg)
	}
	_, err = svc.Spreadsheets.Values.BatchGet("other-id").Ranges("Operaciones!A:A").Context(ctx).Do()
	if code, _ := apiError(t, err); code != http.StatusNotFound {
		t.Errorf("unknown spreadsheet: %d", code)
	}

	e.FailNext(2, http.StatusTooManyRequests, "3")
	for i := 0; i < 2; i++ {
		_, err = svc.Spreadsheets.Values.Get(e.SpreadsheetID(), "Operaciones!A1").Context(ctx).Do()
		var gerr *googleapi.Error
		if !errors.As(err, &gerr) || gerr.Code != 429 || gerr.Header.Get("Retry-After") != "3" {
			t.Fatalf("injected failure %d: %v", i, err)
		}
	}
	if _, err = svc.Spreadsheets.Values.Get(e.SpreadsheetID(), "Operaciones!A1").Context(ctx).Do(); err != nil {
		t.Fatalf("after the injected failures: %v", err)
	}

	e.SetRawResponse(`{"spreadsheetId": "emulated-spreadsheet", "valueRanges": [{"ran`)
	if _, err = svc.Spreadsheets.Values.BatchGet(e.SpreadsheetID()).Ranges("Operaciones!A:A").Context(ctx).Do(); err == nil {
		t.Fatal("truncated body: no error")
	}
	if e.Requests() != 6 {
		t.Errorf("requests = %d, want 6 (every request counted)", e.Requests())
	}
}

func apiError(t *testing.T, err error) (int, string) {
	t.Helper()
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("error %v (%T) is not a googleapi.Error", err, err)
	}
	return gerr.Code, gerr.Message
}

func TestDelayHonoursClient(t *testing.T) {
	e := Start(t)
	e.SetSheet("Operaciones", sample())
	e.SetDelay(10 * time.Second)
	svc := client(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := svc.Spreadsheets.Values.Get(e.SpreadsheetID(), "Operaciones!A1").Context(ctx).Do()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	// Closing the server (at cleanup) waits for handlers: a stuck handler would hang the test.
}

func TestServeStale(t *testing.T) {
	e := Start(t)
	e.SetSheet("S", [][]any{{"h"}, {"old"}})
	const window = time.Second
	start := time.Now()
	e.ServeStaleFor(window)
	e.SetSheet("S", [][]any{{"h"}, {"new"}})
	read := cellReader(t, e, "S!A2")
	if got := read(); got != "old" && time.Since(start) < window {
		t.Errorf("during the stale window: %v, want old", got)
	}
	// Poll until the new value is served: it must come, and not before the window ended.
	deadline := time.Now().Add(10 * time.Second)
	for read() != "new" {
		if time.Now().After(deadline) {
			t.Fatalf("still serving the old value %v after the %v window", time.Since(start), window)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < window {
		t.Errorf("the new value was served %v after ServeStaleFor(%v), inside the window", took, window)
	}
}

func TestReadLag(t *testing.T) {
	e := Start(t)
	e.SetSheet("S", [][]any{{"h"}, {"v1"}})
	const lag = 300 * time.Millisecond
	e.SetReadLag(lag)
	e.SetSheet("S", [][]any{{"h"}, {"v2"}})
	v2At := time.Now() // v2 was set no later than this
	e.SetSheet("S", [][]any{{"h"}, {"v3"}})
	read := cellReader(t, e, "S!A2")
	// Every read answered before v2 can be lag old sees v1; versions only move forward, and
	// the last one arrives.
	order := map[any]int{"v1": 1, "v2": 2, "v3": 3}
	last := 0
	deadline := time.Now().Add(10 * time.Second)
	for last < 3 && time.Now().Before(deadline) {
		got := read()
		answered := time.Now()
		if answered.Before(v2At.Add(lag)) && got != "v1" {
			t.Fatalf("read answered %v after the write saw %v: the lag was not kept", answered.Sub(v2At), got)
		}
		if order[got] < last {
			t.Fatalf("read went back to %v", got)
		}
		last = order[got]
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if last != 3 {
		t.Fatalf("the last write never became visible (last %d)", last)
	}
	// Off: reads see the latest at once.
	e.SetReadLag(0)
	e.SetSheet("S", [][]any{{"h"}, {"v4"}})
	if got := read(); got != "v4" {
		t.Fatalf("without lag: %v, want v4", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := Start(t)
	e.SetSheet("S", [][]any{{"h"}, {"v"}})
	svc := client(t, e)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				e.SetSheet("S", [][]any{{"h"}, {j}})
				_, _ = svc.Spreadsheets.Values.Get(e.SpreadsheetID(), "S!A:A").Context(context.Background()).Do()
				_ = e.Reads()
			}
		}()
	}
	wg.Wait()
	if e.Requests() != 80 {
		t.Errorf("requests = %d, want 80", e.Requests())
	}
}

// cellReader reads one cell through the real Sheets client, failing the test on an error.
func cellReader(t *testing.T, e *Emulator, a1 string) func() any {
	svc := client(t, e)
	return func() any {
		vr, err := svc.Spreadsheets.Values.Get(e.SpreadsheetID(), a1).Context(context.Background()).Do()
		if err != nil {
			t.Fatal(err)
		}
		return vr.Values[0][0]
	}
}

// TestTypedCells: a Cell gives its value unformatted and its text formatted; a date-time cell
// is its serial number, shown day-first without leading zeros; a plain number of 16 digits is
// shown in scientific notation, as Sheets' automatic format does.
func TestTypedCells(t *testing.T) {
	e := Start(t)
	at := time.Date(2026, 1, 5, 8, 41, 7, 0, Santiago)
	e.SetSheet("Operaciones", [][]any{
		{"TAG", "Date"},
		{Shown(123.0, "00123"), DateTime(at)},
		{Shown(1000.0, "1.00E+03"), DateTimeAs(at, "02/01/2006 15:04")},
		{1234567890123456.0, 1e15},
		{Shown(nil, ""), "x"},
	})
	svc := client(t, e)
	get := func(render string) [][]any {
		t.Helper()
		vr, err := svc.Spreadsheets.Values.Get(e.SpreadsheetID(), "Operaciones!A2:B5").ValueRenderOption(render).Do()
		if err != nil {
			t.Fatal(err)
		}
		return vr.Values
	}
	serial := Serial(at)
	if got, want := get("FORMATTED_VALUE"), [][]any{{"00123", "5-1-2026 8:41:07"}, {"1.00E+03", "05/01/2026 08:41"}, {"1.23457E+15", "1E+15"}, {"", "x"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("FORMATTED_VALUE = %#v, want %#v", got, want)
	}
	if got, want := get("UNFORMATTED_VALUE"), [][]any{{123.0, serial}, {1000.0, serial}, {1234567890123456.0, 1e15}, {"", "x"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("UNFORMATTED_VALUE = %#v, want %#v", got, want)
	}
}
