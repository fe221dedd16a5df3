package sheets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/auth"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/option/internaloption"
	sheetsapi "google.golang.org/api/sheets/v4"
	htransport "google.golang.org/api/transport/http"

	"reconciler/jobs"
)

// APIConfig configures the Google Sheets API transport.
type APIConfig struct {
	SpreadsheetID string // GOOGLE_SHEET_ID
	SheetName     string // HOJA_OPERACIONES_NOMBRE, e.g. "Operaciones"
	// Endpoint is the API base URL (SHEETS_ENDPOINT), a full URL such as
	// "http://127.0.0.1:8085/"; empty means Google. With an endpoint set, credentials are
	// optional and requests go unauthenticated when none are given.
	Endpoint string
	// CredentialsJSON is the raw service-account key (see DecodeCredentials). It is used with
	// the read-only Sheets scope and never appears in errors.
	CredentialsJSON []byte
	// Location is the zone of the sheet's wall-clock times (TIMEZONE). Required.
	Location *time.Location
	// OnResponse, when set, is called once per HTTP attempt with its status code (0 when no
	// response came: a transport error, a timeout), e.g. to count requests in metrics.
	OnResponse func(code int)
	// Logger, when set, receives the header warnings (a needed name on several columns, a
	// column found only leniently), once per header layout.
	Logger *slog.Logger
	// Retry tuning; zero values mean DefaultBaseBackoff, DefaultMaxBackoff, DefaultMaxAttempts.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	MaxAttempts int
}

// API reads the sheet through the Sheets v4 values API. In the steady state a Read is ONE
// values.batchGet of only the three needed columns plus row 1 (to check that the cached column
// map still holds), never the whole sheet. It is safe for concurrent use.
type API struct {
	svc     *sheetsapi.Service
	id      string
	sheet   string
	loc     *time.Location
	retry   retryPolicy
	secrets secrets
	warn    *headerWarnings
	log     *slog.Logger

	// fast makes readColumns ask the transport to decode the answer (see columnsTransport);
	// tests turn it off to compare with the client's own decoding.
	fast bool
	// fastReads and clientReads count the batchGet answers decoded by each path;
	// declineLogged is set once a declined answer has been logged.
	fastReads, clientReads atomic.Int64
	declineLogged          atomic.Bool

	mu   sync.Mutex
	cols *Columns // the cached column map; nil until the header has been read
}

var _ jobs.SheetReader = (*API)(nil)

// NewAPI builds the transport. It validates the configuration and the credentials but makes
// no request.
func NewAPI(ctx context.Context, cfg APIConfig) (*API, error) {
	switch {
	case strings.TrimSpace(cfg.SpreadsheetID) == "":
		return nil, errors.New("sheets API: no spreadsheet id (GOOGLE_SHEET_ID)")
	case cfg.SheetName == "":
		return nil, errors.New("sheets API: no sheet name (HOJA_OPERACIONES_NOMBRE)")
	case cfg.Location == nil:
		return nil, errors.New("sheets API: no time zone (TIMEZONE)")
	}
	opts := []option.ClientOption{option.WithScopes(sheetsapi.SpreadsheetsReadonlyScope)}
	if cfg.Endpoint != "" {
		if !strings.HasPrefix(cfg.Endpoint, "http://") && !strings.HasPrefix(cfg.Endpoint, "https://") {
			return nil, fmt.Errorf("sheets API: endpoint %q is not a full URL (e.g. http://127.0.0.1:8085/)", cfg.Endpoint)
		}
		endpoint := cfg.Endpoint
		if !strings.HasSuffix(endpoint, "/") {
			endpoint += "/"
		}
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	sec := credentialSecrets(cfg.CredentialsJSON)
	switch {
	case len(cfg.CredentialsJSON) > 0:
		if err := validateCredentials(cfg.CredentialsJSON); err != nil {
			return nil, fmt.Errorf("sheets API: %w", err)
		}
		opts = append(opts, option.WithAuthCredentialsJSON(option.ServiceAccount, cfg.CredentialsJSON))
	case cfg.Endpoint != "":
		opts = append(opts, option.WithoutAuthentication())
	default:
		return nil, errors.New("sheets API: no credentials (set GOOGLE_APPLICATION_CREDENTIALS_JSON or GOOGLE_APPLICATION_CREDENTIALS)")
	}
	svc, err := newService(ctx, opts)
	if err != nil {
		return nil, sec.scrub(fmt.Errorf("sheets API: create client: %w", err))
	}
	rp := retryPolicy{base: cfg.BaseBackoff, max: cfg.MaxBackoff, maxAttempts: cfg.MaxAttempts, onAttempt: cfg.OnResponse}
	if rp.base <= 0 {
		rp.base = DefaultBaseBackoff
	}
	if rp.max <= 0 {
		rp.max = DefaultMaxBackoff
	}
	if rp.maxAttempts <= 0 {
		rp.maxAttempts = DefaultMaxAttempts
	}
	return &API{svc: svc, id: cfg.SpreadsheetID, sheet: cfg.SheetName, loc: cfg.Location, retry: rp, secrets: sec,
		warn: newHeaderWarnings(cfg.Logger), log: cfg.Logger, fast: true}, nil
}

// newService builds the Sheets client as sheetsapi.NewService(ctx, opts...) does, with its
// HTTP client wrapped in a columnsTransport. The authenticated client comes from the library's
// own transport/http.NewClient with the options NewService adds for Sheets (its default
// scopes and endpoints, the new auth library); the service is then made over that client
// with the endpoint it resolved. TestNewServiceAsTheLibrary checks the endpoint and the
// authentication against a plain NewService.
func newService(ctx context.Context, opts []option.ClientOption) (*sheetsapi.Service, error) {
	all := append([]option.ClientOption{internaloption.WithDefaultScopes(
		sheetsapi.DriveScope, sheetsapi.DriveFileScope, sheetsapi.DriveReadonlyScope,
		sheetsapi.SpreadsheetsScope, sheetsapi.SpreadsheetsReadonlyScope,
	)}, opts...)
	all = append(all,
		internaloption.WithDefaultEndpoint(sheetsBasePath),
		internaloption.WithDefaultEndpointTemplate(sheetsBasePathTemplate),
		internaloption.WithDefaultMTLSEndpoint(sheetsMTLSBasePath),
		internaloption.EnableNewAuthLibrary(),
	)
	hc, endpoint, err := htransport.NewClient(ctx, all...)
	if err != nil {
		return nil, err
	}
	wrapped := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped.Transport = &columnsTransport{base: base}
	return sheetsapi.NewService(ctx, option.WithHTTPClient(&wrapped), option.WithEndpoint(endpoint))
}

// The Sheets v4 endpoints, as sheetsapi.NewService sets them (sheets-gen.go's basePath,
// basePathTemplate and mtlsBasePath).
const (
	sheetsBasePath         = "https://sheets.googleapis.com/"
	sheetsBasePathTemplate = "https://sheets.UNIVERSE_DOMAIN/"
	sheetsMTLSBasePath     = "https://sheets.mtls.googleapis.com/"
)

// Read takes a snapshot of the sheet. The first Read also fetches row 1 to build the column
// map (two requests); later Reads make one request. When row 1 shows the needed columns moved,
// the map is rebuilt and the columns read again, once. Snapshot.ReadAt is when the successful
// batchGet was sent; Snapshot.Requests counts every HTTP attempt of this Read, retries and
// attempts that got no answer included, also when Read fails.
func (a *API) Read(ctx context.Context) (jobs.Snapshot, error) {
	snap, err := a.read(ctx)
	return snap, a.secrets.scrub(err)
}

func (a *API) read(ctx context.Context) (jobs.Snapshot, error) {
	var snap jobs.Snapshot
	cols, ok := a.cached()
	if !ok {
		header, n, err := a.readHeader(ctx)
		snap.Requests += n
		if err != nil {
			return snap, err
		}
		if cols, err = MapHeader(header); err != nil {
			return snap, fmt.Errorf("map columns of sheet %q: %w", a.sheet, err)
		}
		a.warn.note(a.sheet, cols)
		a.remember(cols)
	}
	for pass := 1; ; pass++ {
		res, n, err := a.readColumns(ctx, cols)
		snap.Requests += n
		if err != nil {
			return snap, err
		}
		current, err := MapHeader(res.header)
		if err != nil {
			a.forget()
			return snap, fmt.Errorf("map columns of sheet %q: %w", a.sheet, err)
		}
		a.warn.note(a.sheet, current)
		if current.indexes() == cols.indexes() {
			snap.Rows = res.rows(cols.TagHeader, a.loc)
			snap.ReadAt = res.sentAt
			return snap, nil
		}
		// Columns moved since the map was built: remap and read the right columns.
		a.remember(current)
		if pass == 2 {
			return snap, fmt.Errorf("read columns of sheet %q: the header row changed twice during one read (now %s); try again",
				a.sheet, describeColumns(current))
		}
		cols = current
	}
}

func (a *API) cached() (Columns, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cols == nil {
		return Columns{}, false
	}
	return *a.cols, true
}

func (a *API) remember(c Columns) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cols = &c
}

func (a *API) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cols = nil
}

// readHeader fetches row 1, as the sheet shows it (as the backend reads it).
func (a *API) readHeader(ctx context.Context) ([]any, int, error) {
	var vr *sheetsapi.ValueRange
	n, err := a.retry.do(ctx, func(ctx context.Context) error {
		var err error
		vr, err = a.svc.Spreadsheets.Values.Get(a.id, headerRange(a.sheet)).
			MajorDimension("ROWS").
			ValueRenderOption(valueRender).
			Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, n, a.describe("read the header row", err)
	}
	if len(vr.Values) == 0 {
		return nil, n, nil // an empty row 1: MapHeader reports the missing columns
	}
	return vr.Values[0], n, nil
}

// columnsResult is one batchGet: row 1 and the three needed columns (tag, holder, date),
// either as text columns (the transport decoded the answer) or as a compact grid (the client
// did: grid[i] = sheet row i+1, cells tag, holder, date).
type columnsResult struct {
	header []any
	fast   bool
	text   [3][]string // fast: each column's cells from sheet row first[i]+1 down
	first  [3]int
	grid   [][]any // !fast
	sentAt time.Time
}

// rows parses the result's data rows (sheet rows 2 and below).
func (r columnsResult) rows(tagHeader string, loc *time.Location) []jobs.Row {
	if r.fast {
		return parseTextColumns(r.text, r.first, loc)
	}
	return parseRows(r.grid, 1, Columns{Tag: 0, Holder: 1, Date: 2, TagHeader: tagHeader}, loc)
}

// valueRender is how every cell is read: as the text the sheet shows (FORMATTED_VALUE), the
// way the backend reads the sheet (gspread's get_all_values) and finds a spool's row, by exact
// text. A tag cell showing "00123", "1.234" or "1.00E+03" is that text, not the number
// behind it. The values API takes one render option per request, so the holder (text anyway)
// and the date (parsed from its display, see ParseDate) are read the same way in the same
// request.
const valueRender = "FORMATTED_VALUE"

// readColumns is the steady-state read: one batchGet of the tag, holder and date columns and
// row 1, by columns, as the sheet shows them. The answer is decoded by columnsTransport when it
// can, by the client otherwise.
func (a *API) readColumns(ctx context.Context, cols Columns) (columnsResult, int, error) {
	idx := cols.indexes()
	ranges := []string{columnRange(a.sheet, idx[0]), columnRange(a.sheet, idx[1]), columnRange(a.sheet, idx[2]), headerRange(a.sheet)}
	var resp *sheetsapi.BatchGetValuesResponse
	var sentAt time.Time
	var sink *columnsSink
	n, err := a.retry.do(ctx, func(ctx context.Context) error {
		sentAt = time.Now()
		sink = nil
		if a.fast {
			sink = &columnsSink{}
			ctx = withColumnsSink(ctx, sink)
		}
		var err error
		resp, err = a.svc.Spreadsheets.Values.BatchGet(a.id).
			Ranges(ranges...).
			MajorDimension("COLUMNS").
			ValueRenderOption(valueRender).
			Context(ctx).Do()
		return err
	})
	if err != nil {
		return columnsResult{}, n, a.describe("read columns", err)
	}
	if len(resp.ValueRanges) != len(ranges) {
		return columnsResult{}, n, fmt.Errorf("read columns of sheet %q: asked for %d ranges, got %d", a.sheet, len(ranges), len(resp.ValueRanges))
	}
	if sink != nil && sink.taken {
		return a.fastColumns(resp, sink, sentAt, n)
	}
	a.clientReads.Add(1)
	if sink != nil && sink.declined != "" && a.log != nil && a.declineLogged.CompareAndSwap(false, true) {
		a.log.Info("sheets: the columns' answer was decoded by the Sheets client (slower); logged once",
			"sheet", a.sheet, "reason", sink.declined)
	}
	res := columnsResult{sentAt: sentAt}
	// Row 1, by columns: one single-cell list per column; an empty cell may be an empty list.
	for _, col := range resp.ValueRanges[3].Values {
		if len(col) > 0 {
			res.header = append(res.header, col[0])
		} else {
			res.header = append(res.header, nil)
		}
	}
	// The needed columns: each is one list of cells from its first row down to its last
	// non-empty cell (or no list at all when the column is empty).
	var firsts [3]int // grid index of each list's first cell
	rows := 0
	for i, vr := range resp.ValueRanges[:3] {
		if len(vr.Values) == 0 {
			continue
		}
		firsts[i] = rangeStartRow(vr.Range) - 1
		rows = max(rows, firsts[i]+len(vr.Values[0]))
	}
	// Every grid row is three cells of one backing array: one allocation, not one per row.
	cells := make([]any, 3*rows)
	res.grid = make([][]any, rows)
	for r := range res.grid {
		res.grid[r] = cells[3*r : 3*r+3 : 3*r+3]
	}
	for i, vr := range resp.ValueRanges[:3] {
		if len(vr.Values) == 0 {
			continue
		}
		for j, cell := range vr.Values[0] {
			res.grid[firsts[i]+j][i] = cell
		}
	}
	return res, n, nil
}

// fastColumns is readColumns' result from the cells the transport decoded; the client decoded
// the rest of the answer (the ranges), in the same order.
func (a *API) fastColumns(resp *sheetsapi.BatchGetValuesResponse, sink *columnsSink, sentAt time.Time, n int) (columnsResult, int, error) {
	if len(sink.ranges) != len(resp.ValueRanges) {
		// Cannot happen: both read the same valueRanges array.
		return columnsResult{}, n, fmt.Errorf("read columns of sheet %q: the decoded answer has %d ranges, the client's %d",
			a.sheet, len(sink.ranges), len(resp.ValueRanges))
	}
	a.fastReads.Add(1)
	res := columnsResult{sentAt: sentAt, fast: true}
	// Row 1's cells are copied: the column map built from them outlives the read (it is
	// cached), and a piece of the answer would keep the whole answer's buffer alive.
	for _, col := range sink.ranges[3] {
		if len(col) > 0 {
			res.header = append(res.header, strings.Clone(col[0]))
		} else {
			res.header = append(res.header, nil)
		}
	}
	for i, values := range sink.ranges[:3] {
		if len(values) == 0 {
			continue
		}
		res.first[i] = rangeStartRow(resp.ValueRanges[i].Range) - 1
		res.text[i] = values[0]
	}
	return res, n, nil
}

// describe turns a failed request into an error saying what failed and, for the usual
// mistakes, how to fix it.
func (a *API) describe(what string, err error) error {
	prefix := fmt.Sprintf("%s of sheet %q", what, a.sheet)
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		switch gerr.Code {
		case http.StatusNotFound:
			return fmt.Errorf("%s: spreadsheet %q not found (check GOOGLE_SHEET_ID): %w", prefix, a.id, err)
		case http.StatusForbidden:
			return fmt.Errorf("%s: permission denied on spreadsheet %q (share it with the service account's client_email, as a viewer): %w", prefix, a.id, err)
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: not authenticated (check the service-account credentials): %w", prefix, err)
		case http.StatusBadRequest:
			return fmt.Errorf("%s: bad request; does spreadsheet %q have a tab named %q? (HOJA_OPERACIONES_NOMBRE): %w", prefix, a.id, a.sheet, err)
		}
	}
	var aerr *auth.Error
	if errors.As(err, &aerr) && !aerr.Temporary() {
		return fmt.Errorf("%s: authentication failed: Google refused a token for the service account (is the key revoked or deleted?): %w", prefix, err)
	}
	if isDecodeError(err) {
		return fmt.Errorf("%s: the response is not the JSON expected: %w", prefix, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
