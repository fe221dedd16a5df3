package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/googleapi"

	"reconciler/jobs"
	"reconciler/tests/sheetsemu"
)

// codes records OnResponse calls.
type codes struct {
	mu   sync.Mutex
	list []int
}

func (c *codes) add(code int) { c.mu.Lock(); c.list = append(c.list, code); c.mu.Unlock() }
func (c *codes) get() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.list...)
}

// newTestAPI is an API on the emulator with fast retries.
func newTestAPI(t *testing.T, e *sheetsemu.Emulator, edit ...func(*APIConfig)) (*API, *codes) {
	t.Helper()
	c := &codes{}
	cfg := APIConfig{
		SpreadsheetID: e.SpreadsheetID(),
		SheetName:     "Operaciones",
		Endpoint:      e.Endpoint(),
		Location:      santiago(t),
		OnResponse:    c.add,
		BaseBackoff:   5 * time.Millisecond,
		MaxBackoff:    20 * time.Millisecond,
	}
	for _, f := range edit {
		f(&cfg)
	}
	api, err := NewAPI(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return api, c
}

func readCtx(t *testing.T, api *API, timeout time.Duration) (jobs.Snapshot, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return api.Read(ctx)
}

func mustRead(t *testing.T, api *API) jobs.Snapshot {
	t.Helper()
	snap, err := readCtx(t, api, 10*time.Second)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return snap
}

// operaciones is a realistic sheet: the real 75-column header, occupied and free rows, an
// empty row in the middle, short rows, and numbers where the API gives numbers.
func operaciones(t *testing.T) [][]any {
	return sheetsemu.Grid(OperacionesHeader(),
		sheetsemu.Spool("MK-1335-CW-25238-011", "MR(93)", "13-05-2026 11:33:48"), // row 2
		map[string]any{"id": 2.0, sheetsemu.ColTag: "MK-1335-CW-25238-012"},      // row 3: ends at G
		nil, // row 4: empty
		sheetsemu.Spool("MK-1335-CW-25238-014", "JP(12)", 46155.48180555556),                                   // row 5: serial
		map[string]any{sheetsemu.ColTag: 1234.0, sheetsemu.ColHolder: "AR(15)"},                                // row 6: numeric tag, ends at BO
		map[string]any{"id": 7.0, sheetsemu.ColTag: "MK-7", sheetsemu.ColHolder: "DISPONIBLE", "version": 3.0}, // row 7
		map[string]any{sheetsemu.ColHolder: "LP(21)", sheetsemu.ColDate: true},                                 // row 8: no tag
	)
}

func operacionesRows(t *testing.T) []jobs.Row {
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, santiago(t))
	return []jobs.Row{
		{Number: 2, Tag: "MK-1335-CW-25238-011", Holder: "MR(93)", Date: "13-05-2026 11:33:48", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 3, Tag: "MK-1335-CW-25238-012"},
		{Number: 5, Tag: "MK-1335-CW-25238-014", Holder: "JP(12)", Date: "46155.48180555556", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 6, Tag: "1234", Holder: "AR(15)"},
		{Number: 7, Tag: "MK-7", Holder: "DISPONIBLE"},
		{Number: 8, Holder: "LP(21)", Date: "TRUE", DateState: jobs.DateInvalid},
	}
}

func TestAPIReadsOnlyTheNeededColumns(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, codes := newTestAPI(t, e)

	before := time.Now()
	snap := mustRead(t, api)
	after := time.Now()
	assertRows(t, snap.Rows, operacionesRows(t))
	if snap.Requests != 2 || e.Requests() != 2 {
		t.Errorf("first read: Snapshot.Requests = %d, emulator saw %d; want 2 (header, then columns)", snap.Requests, e.Requests())
	}
	if snap.ReadAt.Before(before) || snap.ReadAt.After(after) {
		t.Errorf("ReadAt %v outside the read [%v, %v]", snap.ReadAt, before, after)
	}
	reads := e.Reads()
	if got := reads[0].Ranges; !reflect.DeepEqual(got, []string{"'Operaciones'!1:1"}) || !strings.HasSuffix(reads[0].Path, "/values/'Operaciones'!1:1") ||
		reads[0].ValueRenderOption != "FORMATTED_VALUE" {
		t.Errorf("first request: %s %q %s, want row 1, FORMATTED_VALUE", reads[0].Path, got, reads[0].ValueRenderOption)
	}
	wantBatch := []string{"'Operaciones'!G:G", "'Operaciones'!BO:BO", "'Operaciones'!BP:BP", "'Operaciones'!1:1"}
	checkBatch := func(r sheetsemu.Request) {
		t.Helper()
		if !strings.HasSuffix(r.Path, "/values:batchGet") || !reflect.DeepEqual(r.Ranges, wantBatch) ||
			r.MajorDimension != "COLUMNS" || r.ValueRenderOption != "FORMATTED_VALUE" || r.DateTimeRenderOption != "" {
			t.Errorf("batchGet = %+v\nwant ranges %q, COLUMNS, FORMATTED_VALUE (and no dateTimeRenderOption: the API ignores it then)", r, wantBatch)
		}
	}
	checkBatch(reads[1])

	// Steady state: one request per read.
	for i := 0; i < 3; i++ {
		snap = mustRead(t, api)
		if snap.Requests != 1 {
			t.Errorf("read %d: %d requests, want 1", i+2, snap.Requests)
		}
		assertRows(t, snap.Rows, operacionesRows(t))
	}
	reads = e.Reads()
	if len(reads) != 5 {
		t.Fatalf("emulator saw %d requests, want 5", len(reads))
	}
	for _, r := range reads[1:] {
		checkBatch(r)
	}
	if got := codes.get(); !reflect.DeepEqual(got, []int{200, 200, 200, 200, 200}) {
		t.Errorf("OnResponse codes = %v", got)
	}
}

func TestAPIHeaderMoved(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, _ := newTestAPI(t, e)
	mustRead(t, api)

	// A column inserted at A moves everything one to the right.
	moved := operaciones(t)
	for i, row := range moved {
		moved[i] = append([]any{"x"}, row...)
	}
	moved[0][0] = "Nueva"
	e.SetSheet("Operaciones", moved)
	n := e.Requests()
	snap := mustRead(t, api)
	assertRows(t, snap.Rows, operacionesRows(t))
	if snap.Requests != 2 || e.Requests()-n != 2 {
		t.Errorf("remap: %d requests (emulator %d), want 2", snap.Requests, e.Requests()-n)
	}
	last := e.Reads()[e.Requests()-1]
	if want := []string{"'Operaciones'!H:H", "'Operaciones'!BP:BP", "'Operaciones'!BQ:BQ", "'Operaciones'!1:1"}; !reflect.DeepEqual(last.Ranges, want) {
		t.Errorf("re-read ranges = %q, want %q", last.Ranges, want)
	}
	if snap = mustRead(t, api); snap.Requests != 1 {
		t.Errorf("after the remap: %d requests, want 1", snap.Requests)
	}

	// Another header renamed: the needed columns did not move, nothing is re-read.
	moved[0][1] = "NV (nota de venta)"
	e.SetSheet("Operaciones", moved)
	if snap = mustRead(t, api); snap.Requests != 1 {
		t.Errorf("unrelated header change: %d requests, want 1", snap.Requests)
	}

	// The date column disappears: a clear error; once back, the header is read afresh.
	broken := append([]any(nil), moved[0]...)
	broken[68] = "Fecha"
	e.SetSheet("Operaciones", append([][]any{broken}, moved[1:]...))
	_, err := readCtx(t, api, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), `map columns of sheet "Operaciones"`) || !strings.Contains(err.Error(), `"Fecha_Ocupacion"`) {
		t.Fatalf("err = %v", err)
	}
	e.SetSheet("Operaciones", operaciones(t))
	snap = mustRead(t, api)
	assertRows(t, snap.Rows, operacionesRows(t))
	if snap.Requests != 2 {
		t.Errorf("after a header error: %d requests, want 2", snap.Requests)
	}
}

func TestAPIQuotedSheetName(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("It's Operaciones", operaciones(t))
	api, _ := newTestAPI(t, e, func(c *APIConfig) { c.SheetName = "It's Operaciones" })
	snap := mustRead(t, api)
	assertRows(t, snap.Rows, operacionesRows(t))
	if got := e.Reads()[1].Ranges[0]; got != "'It''s Operaciones'!G:G" {
		t.Errorf("range = %q", got)
	}
}

func TestAPIOmittedTrailingCells(t *testing.T) {
	e := sheetsemu.Start(t)
	h := OperacionesHeader()
	// The tag column ends before the holder column, which ends before the date column: the
	// API sends three lists of different lengths.
	e.SetSheet("Operaciones", sheetsemu.Grid(h,
		sheetsemu.Spool("T-2", "", ""),
		map[string]any{sheetsemu.ColHolder: "MR(93)"},
		nil,
		map[string]any{sheetsemu.ColDate: "13-05-2026 11:33:48"},
		nil, nil,
	))
	api, _ := newTestAPI(t, e)
	snap := mustRead(t, api)
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, santiago(t))
	assertRows(t, snap.Rows, []jobs.Row{
		{Number: 2, Tag: "T-2"},
		{Number: 3, Holder: "MR(93)"},
		{Number: 5, Date: "13-05-2026 11:33:48", DateState: jobs.DateValid, OccupiedAt: at},
	})

	// A sheet with a header and nothing else.
	e.SetSheet("Operaciones", sheetsemu.Grid(h))
	if snap = mustRead(t, api); len(snap.Rows) != 0 {
		t.Errorf("header only: %d rows", len(snap.Rows))
	}
}

func TestAPIRetries429WithRetryAfter(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, codes := newTestAPI(t, e)
	mustRead(t, api)

	e.FailNext(1, http.StatusTooManyRequests, "1")
	start := time.Now()
	snap := mustRead(t, api)
	if took := time.Since(start); took < time.Second {
		t.Errorf("retried after %s, before Retry-After: 1", took)
	}
	if snap.Requests != 2 {
		t.Errorf("requests = %d, want 2", snap.Requests)
	}
	if snap.ReadAt.Before(start.Add(time.Second)) {
		t.Errorf("ReadAt %v is not the successful attempt's (started %v)", snap.ReadAt, start)
	}
	assertRows(t, snap.Rows, operacionesRows(t))
	if got := codes.get()[2:]; !reflect.DeepEqual(got, []int{429, 200}) {
		t.Errorf("codes = %v", got)
	}
}

func TestAPIRetries5xx(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, codes := newTestAPI(t, e)
	e.FailNext(2, http.StatusInternalServerError, "")
	snap := mustRead(t, api)
	if snap.Requests != 4 || e.Requests() != 4 {
		t.Errorf("requests = %d (emulator %d), want 4: the header twice failing, then header and columns", snap.Requests, e.Requests())
	}
	assertRows(t, snap.Rows, operacionesRows(t))
	if got := codes.get(); !reflect.DeepEqual(got, []int{500, 500, 200, 200}) {
		t.Errorf("codes = %v", got)
	}

	// Persistent 503 without a deadline: bounded by MaxAttempts.
	e.FailNext(100, http.StatusServiceUnavailable, "")
	api3, _ := newTestAPI(t, e, func(c *APIConfig) { c.MaxAttempts = 3 })
	n := e.Requests()
	snap, err := api3.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || snap.Requests != 3 || e.Requests()-n != 3 {
		t.Errorf("persistent 503: %v, %d requests", err, snap.Requests)
	}
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != 503 {
		t.Errorf("the last error is not wrapped: %v", err)
	}
}

func TestAPIRetryAfterPastDeadline(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, _ := newTestAPI(t, e)
	mustRead(t, api)
	e.FailNext(1, http.StatusTooManyRequests, "30")
	start := time.Now()
	snap, err := readCtx(t, api, 2*time.Second)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("took %s: it should give up at once rather than wait past the deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), `read columns of sheet "Operaciones"`) {
		t.Fatalf("err = %v", err)
	}
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != 429 {
		t.Errorf("the 429 is not wrapped: %v", err)
	}
	if snap.Requests != 1 {
		t.Errorf("requests = %d", snap.Requests)
	}
}

func TestAPISlowPastDeadline(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, codes := newTestAPI(t, e)
	mustRead(t, api)
	e.SetDelay(10 * time.Second)
	start := time.Now()
	_, err := readCtx(t, api, 300*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned after %s", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "deadline") ||
		!strings.Contains(err.Error(), `read columns of sheet "Operaciones"`) {
		t.Errorf("err = %v", err)
	}
	if got := codes.get(); got[len(got)-1] != 0 {
		t.Errorf("codes = %v, want 0 for the timed-out attempt", got)
	}
}

func TestAPIClientErrors(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))

	api, _ := newTestAPI(t, e, func(c *APIConfig) { c.SpreadsheetID = "no-such-sheet" })
	snap, err := readCtx(t, api, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), `spreadsheet "no-such-sheet" not found`) || snap.Requests != 1 {
		t.Errorf("404: %v (%d requests)", err, snap.Requests)
	}

	api, _ = newTestAPI(t, e, func(c *APIConfig) { c.SheetName = "Operacion" })
	snap, err = readCtx(t, api, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), `tab named "Operacion"`) || !strings.Contains(err.Error(), "Unable to parse range") || snap.Requests != 1 {
		t.Errorf("400: %v (%d requests)", err, snap.Requests)
	}

	api, _ = newTestAPI(t, e)
	e.FailNext(1, http.StatusForbidden, "")
	snap, err = readCtx(t, api, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || snap.Requests != 1 {
		t.Errorf("403: %v (%d requests)", err, snap.Requests)
	}
}

func TestAPIBrokenBody(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, codes := newTestAPI(t, e)
	mustRead(t, api)
	for _, body := range []string{
		`{"spreadsheetId":"emulated-spreadsheet","valueRanges":[{"range":"Operaciones!G1:G9","values":[["TAG_SP`,
		`<html><body>502 Bad Gateway</body></html>`,
		`{"valueRanges": "nope"}`,
	} {
		e.SetRawResponse(body)
		snap, err := readCtx(t, api, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "not the JSON expected") || !strings.Contains(err.Error(), `read columns of sheet "Operaciones"`) {
			t.Errorf("body %.20q: err = %v", body, err)
		}
		if snap.Requests != 1 {
			t.Errorf("body %.20q: %d requests", body, snap.Requests)
		}
	}
	e.SetRawResponse(`{"spreadsheetId":"emulated-spreadsheet","valueRanges":[]}`)
	if _, err := readCtx(t, api, 5*time.Second); err == nil || !strings.Contains(err.Error(), "asked for 4 ranges, got 0") {
		t.Errorf("short answer: %v", err)
	}
	if got := codes.get(); got[len(got)-1] != 200 {
		t.Errorf("codes = %v", got)
	}
	// And it recovers.
	assertRows(t, mustRead(t, api).Rows, operacionesRows(t))
}

func TestAPITransportErrorsAreRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	e := sheetsemu.Start(t)
	api, codes := newTestAPI(t, e, func(c *APIConfig) { c.Endpoint = "http://" + addr + "/"; c.MaxAttempts = 3 })
	snap, err := readCtx(t, api, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || snap.Requests != 3 {
		t.Errorf("err = %v, %d requests", err, snap.Requests)
	}
	if got := codes.get(); !reflect.DeepEqual(got, []int{0, 0, 0}) {
		t.Errorf("codes = %v", got)
	}
}

func TestAPIRejectedCredentials(t *testing.T) {
	var tokenHits atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
	}))
	defer tokens.Close()
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, _ := newTestAPI(t, e, func(c *APIConfig) { c.CredentialsJSON = serviceAccountJSON(t, tokens.URL+"/token", nil) })
	_, err := readCtx(t, api, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err)
	if tokenHits.Load() != 1 || e.Requests() != 0 {
		t.Errorf("token endpoint hit %d times, sheets %d: a refused key must not be retried", tokenHits.Load(), e.Requests())
	}
}

func TestAPIConcurrentReads(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, _ := newTestAPI(t, e)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, err := readCtx(t, api, 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if len(snap.Rows) != len(operacionesRows(t)) {
				t.Errorf("%d rows", len(snap.Rows))
			}
		}()
	}
	wg.Wait()
}

// Stale reads: the snapshot shows what the sheet served, and ReadAt is when it was asked.
func TestAPIStaleRead(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	api, _ := newTestAPI(t, e)
	mustRead(t, api)
	e.ServeStaleFor(time.Hour)
	e.SetSheet("Operaciones", sheetsemu.Grid(OperacionesHeader()))
	if snap := mustRead(t, api); len(snap.Rows) != len(operacionesRows(t)) {
		t.Errorf("stale read: %d rows, want the old %d", len(snap.Rows), len(operacionesRows(t)))
	}
}

// A header that moves on every request: one remap and re-read, then a clear error.
func TestAPIHeaderKeepsMoving(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		header := make([][]any, n+3) // by columns: n empty columns, then the three
		for i := range n {
			header[i] = []any{""}
		}
		header[n], header[n+1], header[n+2] = []any{"TAG_SPOOL"}, []any{"Ocupado_Por"}, []any{"Fecha_Ocupacion"}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, ":batchGet") {
			_ = json.NewEncoder(w).Encode(map[string]any{"spreadsheetId": "s", "valueRanges": []any{
				map[string]any{"range": "Operaciones!A1:A2", "values": [][]any{{"TAG_SPOOL", "T"}}},
				map[string]any{"range": "Operaciones!B1:B2", "values": [][]any{{"Ocupado_Por", "MR(1)"}}},
				map[string]any{"range": "Operaciones!C1:C2", "values": [][]any{{"Fecha_Ocupacion"}}},
				map[string]any{"range": "Operaciones!A1:Z1", "values": header},
			}})
			return
		}
		row := make([]any, 0, n+3)
		for _, c := range header {
			row = append(row, c[0])
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"range": "Operaciones!A1:Z1", "values": [][]any{row}})
	}))
	defer srv.Close()
	api, err := NewAPI(context.Background(), APIConfig{SpreadsheetID: "s", SheetName: "Operaciones", Endpoint: srv.URL, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := api.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "changed twice") || snap.Requests != 3 {
		t.Fatalf("err = %v, %d requests", err, snap.Requests)
	}
}

// TestAPIReadsTagsAsShown: the tag column is read as the sheet shows it, as the backend reads
// it and finds a spool's row by exact text: a number formatted "00000" is "00123", a number
// shown with a thousands separator "1.234", one in scientific format "1.00E+03", and a text
// that looks like a date stays that text. Dates are parsed from the text a Chile-locale sheet
// shows for a date-time (day, month and hour without leading zeros). One request per read.
func TestAPIReadsTagsAsShown(t *testing.T) {
	loc := santiago(t)
	at := time.Date(2026, 1, 5, 8, 41, 7, 0, loc)
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", sheetsemu.Grid(ProductionHeader(true),
		sheetsemu.Spool("00123", "MR(93)", nil), // text
		map[string]any{sheetsemu.ColTag: sheetsemu.Shown(123.0, "00123"), sheetsemu.ColHolder: "MR(93)", sheetsemu.ColDate: sheetsemu.DateTime(at)},
		map[string]any{sheetsemu.ColTag: sheetsemu.Shown(1234.0, "1.234"), sheetsemu.ColHolder: "JP(12)", sheetsemu.ColDate: sheetsemu.DateTimeAs(at, "02-01-2006 15:04")},
		map[string]any{sheetsemu.ColTag: sheetsemu.Shown(1000.0, "1.00E+03"), sheetsemu.ColHolder: "CV(7)", sheetsemu.ColDate: sheetsemu.DateTimeAs(at, "2/1/2006 15:04:05")},
		map[string]any{sheetsemu.ColTag: "2024-01-05", sheetsemu.ColHolder: "AR(15)", sheetsemu.ColDate: "05-01-2026 08:41:07"},
		map[string]any{sheetsemu.ColTag: sheetsemu.Shown(45296.0, "05-01-2024"), sheetsemu.ColHolder: "LP(21)", sheetsemu.ColDate: sheetsemu.Serial(at)},
		map[string]any{sheetsemu.ColTag: 25238.0, NotesHolderHeader: "notas: MR(93)", sheetsemu.ColHolder: "FS(3)"},
	))
	api, _ := newTestAPI(t, e)
	mustRead(t, api)
	snap := mustRead(t, api)
	if snap.Requests != 1 {
		t.Errorf("steady state: %d requests, want 1", snap.Requests)
	}
	type want struct {
		tag, holder string
		at          time.Time
	}
	minute := at.Truncate(time.Minute)
	wants := []want{
		{"00123", "MR(93)", time.Time{}}, {"00123", "MR(93)", at}, {"1.234", "JP(12)", minute},
		{"1.00E+03", "CV(7)", at}, {"2024-01-05", "AR(15)", at}, {"05-01-2024", "LP(21)", at}, {"25238", "FS(3)", time.Time{}},
	}
	if len(snap.Rows) != len(wants) {
		t.Fatalf("%d rows, want %d: %+v", len(snap.Rows), len(wants), snap.Rows)
	}
	for i, w := range wants {
		r := snap.Rows[i]
		if r.Tag != w.tag || r.Holder != w.holder || !r.OccupiedAt.Equal(w.at) {
			t.Errorf("row %d = tag %q holder %q at %v (date %q), want %q %q %v", r.Number, r.Tag, r.Holder, r.OccupiedAt, r.Date, w.tag, w.holder, w.at)
		}
	}
	for _, r := range e.Reads() {
		if r.ValueRenderOption != "FORMATTED_VALUE" {
			t.Errorf("request %s asked for %s, want FORMATTED_VALUE", r.Path, r.ValueRenderOption)
		}
	}
}
