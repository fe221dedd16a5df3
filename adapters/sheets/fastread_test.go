package sheets

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/api/option"
	sheetsapi "google.golang.org/api/sheets/v4"

	"reconciler/jobs"
	"reconciler/tests/sheetsemu"
)

// oddSheet is a generated sheet plus cells that exercise the decoder: escapes the emulator's
// encoding/json writes (quotes, backslashes, control characters, <>&, U+2028, invalid UTF-8),
// accents, an emoji, white space only, leading and trailing spaces, and columns of different
// lengths. The odd rows follow the generated ones: the first is sheet row len(grid)-9.
func oddSheet(t *testing.T, n int) [][]any {
	now := time.Date(2026, 5, 13, 12, 0, 0, 0, santiago(t))
	grid := sheetsemu.Generate(OperacionesHeader(), n, now).Grid
	odd := sheetsemu.Grid(OperacionesHeader(),
		sheetsemu.Spool(`MK-"1"\2`, "Peñalolén (93)", "13-05-2026 11:33:48"),
		sheetsemu.Spool("MK-3\n", "a\tb\r\nc\x01", " 13-05-2026 11:33:48 "),
		sheetsemu.Spool("<MK&4>", "\u2028JP(12)\u2029", "2026-05-13T15:33:48Z"),
		sheetsemu.Spool("😀 MK-5", "bad \xff utf-8 (7)", "46155,5"),
		sheetsemu.Spool("   ", " ", "\t"),
		sheetsemu.Spool(" MK-6 ", "MR(93) ", "ayer"),
		map[string]any{sheetsemu.ColHolder: "solo (1)"},
		map[string]any{sheetsemu.ColDate: "13/5/2026 8:41"},
		nil,
		map[string]any{sheetsemu.ColTag: "ÚLTIMO"},
	)
	return append(grid, odd[1:]...)
}

// TestAPIFastReadEqualsClient: through the real client and the emulator, the transport decodes
// the steady-state answer (the fast path is taken) and gives exactly the rows the client's own
// decoding gives for the same answer.
func TestAPIFastReadEqualsClient(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", oddSheet(t, 2000))
	fast, _ := newTestAPI(t, e)
	slow, _ := newTestAPI(t, e)
	slow.fast = false
	for i := range 2 {
		f, s := mustRead(t, fast), mustRead(t, slow)
		sameRows(t, f.Rows, s.Rows)
		if len(f.Rows) < 2000 {
			t.Fatalf("%d rows", len(f.Rows))
		}
		if got := fast.fastReads.Load(); got != int64(i+1) || fast.clientReads.Load() != 0 {
			t.Errorf("read %d: fast path taken %d times, client %d", i+1, got, fast.clientReads.Load())
		}
		if slow.fastReads.Load() != 0 || slow.clientReads.Load() != int64(i+1) {
			t.Errorf("the client-only reader took the fast path")
		}
	}
	// The odd rows, as the client reads them.
	grid := oddSheet(t, 2000)
	base := len(grid) - 10 // sheet row of the last generated row
	rows := mustRead(t, fast).Rows
	byNumber := map[int]jobs.Row{}
	for _, r := range rows {
		byNumber[r.Number] = r
	}
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, santiago(t))
	for _, w := range []jobs.Row{
		{Number: base + 1, Tag: `MK-"1"\2`, Holder: "Peñalolén (93)", Date: "13-05-2026 11:33:48", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: base + 2, Tag: "MK-3\n", Holder: "a\tb\r\nc\x01", Date: " 13-05-2026 11:33:48 ", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: base + 3, Tag: "<MK&4>", Holder: "\u2028JP(12)\u2029", Date: "2026-05-13T15:33:48Z", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: base + 4, Tag: "😀 MK-5", Holder: "bad \uFFFD utf-8 (7)", Date: "46155,5", DateState: jobs.DateValid,
			OccupiedAt: time.Date(2026, 5, 13, 12, 0, 0, 0, santiago(t))},
		{Number: base + 6, Tag: " MK-6 ", Holder: "MR(93) ", Date: "ayer", DateState: jobs.DateInvalid},
		{Number: base + 7, Holder: "solo (1)"},
		{Number: base + 8, Date: "13/5/2026 8:41", DateState: jobs.DateValid, OccupiedAt: time.Date(2026, 5, 13, 8, 41, 0, 0, santiago(t))},
		{Number: base + 10, Tag: "ÚLTIMO"},
	} {
		assertRows(t, []jobs.Row{byNumber[w.Number]}, []jobs.Row{w})
	}
	if _, ok := byNumber[base+5]; ok {
		t.Errorf("a row of white space only was read")
	}
}

// TestAPIFastReadRagged: columns of different lengths and empty columns, both paths alike.
func TestAPIFastReadRagged(t *testing.T) {
	e := sheetsemu.Start(t)
	fast, _ := newTestAPI(t, e)
	slow, _ := newTestAPI(t, e)
	slow.fast = false
	h := OperacionesHeader()
	for name, grid := range map[string][][]any{
		"tag ends first": sheetsemu.Grid(h, sheetsemu.Spool("T-2", "", ""), map[string]any{sheetsemu.ColHolder: "MR(93)"}, nil,
			map[string]any{sheetsemu.ColDate: "13-05-2026 11:33:48"}, nil, nil),
		"date only":   sheetsemu.Grid(h, nil, nil, map[string]any{sheetsemu.ColDate: "13-05-2026"}),
		"header only": sheetsemu.Grid(h),
		"tag only":    sheetsemu.Grid(h, map[string]any{sheetsemu.ColTag: "T"}, map[string]any{sheetsemu.ColTag: "U"}),
	} {
		e.SetSheet("Operaciones", grid)
		f, s := mustRead(t, fast), mustRead(t, slow)
		t.Logf("%s: %d rows", name, len(s.Rows))
		sameRows(t, f.Rows, s.Rows)
	}
	if fast.clientReads.Load() != 0 {
		t.Errorf("the fast path declined %d answers", fast.clientReads.Load())
	}
}

// TestAPIFastReadDeclines: an answer the decoder does not take (a number among the cells, as
// UNFORMATTED_VALUE would send) reaches the client untouched and is read as before; the
// fallback is logged once.
func TestAPIFastReadDeclines(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	var logs bytes.Buffer
	api, _ := newTestAPI(t, e, func(c *APIConfig) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	mustRead(t, api)
	body := `{"spreadsheetId":"emulated-spreadsheet","valueRanges":[` +
		`{"range":"'Operaciones'!G1:G3","majorDimension":"COLUMNS","values":[["TAG_SPOOL",1234,"MK-2"]]},` +
		`{"range":"'Operaciones'!BO1:BO3","majorDimension":"COLUMNS","values":[["Ocupado_Por","MR(93)"]]},` +
		`{"range":"'Operaciones'!BP1:BP3","majorDimension":"COLUMNS","values":[["Fecha_Ocupacion",46155.48180555556]]},` +
		`{"range":"'Operaciones'!A1:BZ1","majorDimension":"COLUMNS","values":` + headerColumnsJSON(t) + `}]}`
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, santiago(t))
	want := []jobs.Row{
		{Number: 2, Tag: "1234", Holder: "MR(93)", Date: "46155.48180555556", DateState: jobs.DateValid, OccupiedAt: at},
		{Number: 3, Tag: "MK-2"},
	}
	for i := range 2 {
		e.SetRawResponse(body)
		snap := mustRead(t, api)
		assertRows(t, snap.Rows, want)
		if api.clientReads.Load() != int64(i+1) {
			t.Errorf("client decodes = %d", api.clientReads.Load())
		}
	}
	if n := strings.Count(logs.String(), "decoded by the Sheets client"); n != 1 || !strings.Contains(logs.String(), "a cell that is not text") {
		t.Errorf("logged %d times:\n%s", n, logs.String())
	}
	// And the next ordinary answer takes the fast path again.
	assertRows(t, mustRead(t, api).Rows, operacionesRows(t))
	if api.fastReads.Load() == 0 {
		t.Errorf("fast path never taken")
	}
}

// headerColumnsJSON is row 1 of OperacionesHeader as the batchGet sends it, by columns.
func headerColumnsJSON(t *testing.T) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, h := range OperacionesHeader() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`[` + strconv.Quote(h) + `]`)
	}
	b.WriteByte(']')
	return b.String()
}

// frontServer proxies to the emulator, changing answers with edit.
func frontServer(t *testing.T, e *sheetsemu.Emulator, edit func(w http.ResponseWriter, r *http.Request, body []byte, status int)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(e.Endpoint() + strings.TrimPrefix(r.URL.RequestURI(), "/"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		edit(w, r, body, resp.StatusCode)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAPIFastReadGzip: Google zips its answers when asked; the Go transport asks and unzips
// below the columns transport, which then reads plain JSON of unknown length.
func TestAPIFastReadGzip(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", oddSheet(t, 500))
	var zipped atomic.Int32
	front := frontServer(t, e, func(w http.ResponseWriter, r *http.Request, body []byte, status int) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.WriteHeader(status)
			_, _ = w.Write(body)
			return
		}
		zipped.Add(1)
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(body)
		_ = zw.Close()
	})
	fast, _ := newTestAPI(t, e, func(c *APIConfig) { c.Endpoint = front.URL + "/" })
	slow, _ := newTestAPI(t, e)
	slow.fast = false
	mustRead(t, fast)
	sameRows(t, mustRead(t, fast).Rows, mustRead(t, slow).Rows)
	if zipped.Load() != 3 || fast.fastReads.Load() != 2 || fast.clientReads.Load() != 0 {
		t.Errorf("zipped %d answers, fast path %d, client %d", zipped.Load(), fast.fastReads.Load(), fast.clientReads.Load())
	}
}

// TestAPIFastReadBrokenBody: an answer cut short is the same transport error on both paths,
// retried; the retry's answer is read.
func TestAPIFastReadBrokenBody(t *testing.T) {
	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", oddSheet(t, 500))
	for _, fastPath := range []bool{true, false} {
		var batches atomic.Int32
		front := frontServer(t, e, func(w http.ResponseWriter, r *http.Request, body []byte, status int) {
			if strings.HasSuffix(r.URL.Path, ":batchGet") && batches.Add(1) == 2 {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(status)
				_, _ = w.Write(body[:len(body)/2]) // and the connection closes
				return
			}
			w.WriteHeader(status)
			_, _ = w.Write(body)
		})
		api, codes := newTestAPI(t, e, func(c *APIConfig) { c.Endpoint = front.URL + "/" })
		api.fast = fastPath
		first := mustRead(t, api)
		snap := mustRead(t, api)
		sameRows(t, snap.Rows, first.Rows)
		if snap.Requests != 2 {
			t.Errorf("fast %v: %d requests, want 2 (one cut short, retried)", fastPath, snap.Requests)
		}
		if got := codes.get(); len(got) != 4 || got[2] != 0 {
			t.Errorf("fast %v: codes %v, want the cut answer counted as a transport error", fastPath, got)
		}
		if fastPath && api.fastReads.Load() != 2 {
			t.Errorf("fast path taken %d times", api.fastReads.Load())
		}
	}
}

// TestNewServiceAsTheLibrary: the client NewAPI builds around its transport resolves the same
// endpoint as sheetsapi.NewService with the same options, and authenticates its requests with
// the service account's token.
func TestNewServiceAsTheLibrary(t *testing.T) {
	ctx := context.Background()
	var tokenHits atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"ya29.test-token","token_type":"Bearer","expires_in":3600}`))
	}))
	defer tokens.Close()
	creds := serviceAccountJSON(t, tokens.URL+"/token", nil)

	for _, opts := range [][]option.ClientOption{
		{option.WithScopes(sheetsapi.SpreadsheetsReadonlyScope), option.WithAuthCredentialsJSON(option.ServiceAccount, creds)},
		{option.WithScopes(sheetsapi.SpreadsheetsReadonlyScope), option.WithEndpoint("http://127.0.0.1:1/"), option.WithoutAuthentication()},
	} {
		plain, err := sheetsapi.NewService(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := newService(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if ours.BasePath != plain.BasePath {
			t.Errorf("BasePath %q, the library's %q", ours.BasePath, plain.BasePath)
		}
	}

	e := sheetsemu.Start(t)
	e.SetSheet("Operaciones", operaciones(t))
	var authorized, unauthorized atomic.Int32
	front := frontServer(t, e, func(w http.ResponseWriter, r *http.Request, body []byte, status int) {
		if r.Header.Get("Authorization") != "Bearer ya29.test-token" {
			unauthorized.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":401,"message":"no token","status":"UNAUTHENTICATED"}}`))
			return
		}
		authorized.Add(1)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	api, _ := newTestAPI(t, e, func(c *APIConfig) { c.Endpoint = front.URL + "/"; c.CredentialsJSON = creds })
	mustRead(t, api)
	assertRows(t, mustRead(t, api).Rows, operacionesRows(t))
	if authorized.Load() != 3 || unauthorized.Load() != 0 || tokenHits.Load() != 1 || api.fastReads.Load() != 2 {
		t.Errorf("authorized %d, unauthorized %d, tokens %d, fast reads %d", authorized.Load(), unauthorized.Load(), tokenHits.Load(), api.fastReads.Load())
	}
}

// TestFastColumnsCopiesTheHeader: the column map is cached across reads, so row 1's cells must
// not share the answer's buffer (the data rows may: they go with the snapshot).
func TestFastColumnsCopiesTheHeader(t *testing.T) {
	body := batchJSON(`[["TAG_SPOOL","MK-1"]]`, `[["Ocupado_Por","MR(93)"]]`, `[["Fecha_Ocupacion"]]`,
		`[["TAG_SPOOL"],["Ocupado_Por"],["Fecha_Ocupacion"]]`)
	ranges, stripped, why := decodeBatchColumns(body)
	if why != "" {
		t.Fatal(why)
	}
	resp, err := decodeLikeClient(stripped)
	if err != nil {
		t.Fatal(err)
	}
	api := &API{sheet: "Operaciones"}
	res, _, err := api.fastColumns(resp, &columnsSink{ranges: ranges, taken: true}, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(body)))
	inBody := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(body))
	}
	for _, h := range res.header {
		if inBody(h.(string)) {
			t.Errorf("header cell %q shares the answer's buffer", h)
		}
	}
	if !inBody(res.text[0][1]) {
		t.Errorf("a data cell was copied (expected to share the buffer)")
	}
}
