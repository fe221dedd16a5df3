// Package sheetsemu is a local HTTP emulator of the Google Sheets v4 values API (values.get
// and values.batchGet), for tests. The real google.golang.org/api/sheets/v4 client talks to
// it through option.WithEndpoint(e.Endpoint()).
//
// It serves A1 ranges, both major dimensions and the value render options the way the real
// API does (trailing empty cells and rows left out, numbers as JSON numbers unless
// FORMATTED_VALUE), answers errors with Google's JSON error shape, counts every request, and
// injects faults: failures with Retry-After, delays, raw (broken) bodies and stale reads.
package sheetsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultSpreadsheetID is the id of the one spreadsheet an Emulator holds.
const DefaultSpreadsheetID = "emulated-spreadsheet"

// Request is what the emulator saw of one request.
type Request struct {
	Method               string
	Path                 string // unescaped path, e.g. /v4/spreadsheets/ID/values:batchGet
	SpreadsheetID        string
	Ranges               []string // the ranges asked for (batchGet) or the one in the path (get)
	MajorDimension       string
	ValueRenderOption    string
	DateTimeRenderOption string
	Query                url.Values
}

// Emulator is a running fake Sheets API. All methods are safe for concurrent use.
type Emulator struct {
	srv *httptest.Server
	id  string

	mu          sync.Mutex
	sheets      map[string][][]any
	order       []string // sheet names in creation order; the first is the default sheet
	stale       map[string][][]any
	staleOrder  []string
	staleUntil  time.Time
	lag         time.Duration
	versions    []version // with a read lag: the tabs after each change, oldest first
	delay       time.Duration
	failN       int
	failStatus  int
	failRetry   string
	raw         *string
	requests    int
	reads       []Request
	bytesServed int64
}

// Start runs an emulator on 127.0.0.1 holding one empty spreadsheet (DefaultSpreadsheetID)
// with no tabs, and stops it when the test ends.
func Start(t testing.TB) *Emulator {
	t.Helper()
	e := &Emulator{id: DefaultSpreadsheetID, sheets: map[string][][]any{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.handle))
	t.Cleanup(e.srv.Close)
	return e
}

// Endpoint is the base URL for option.WithEndpoint, with a trailing slash.
func (e *Emulator) Endpoint() string { return e.srv.URL + "/" }

// SpreadsheetID is the id of the spreadsheet the emulator serves; other ids get 404.
func (e *Emulator) SpreadsheetID() string { return e.id }

// SetSheet creates or replaces the tab name with a copy of grid (rows of cells: string,
// float64, int, bool or nil).
func (e *Emulator) SetSheet(name string, grid [][]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sheets[name]; !ok {
		e.order = append(e.order, name)
	}
	e.sheets[name] = cloneGrid(grid)
	if e.lag > 0 {
		e.versions = append(e.versions, version{at: time.Now(), sheets: copySheets(e.sheets), order: append([]string(nil), e.order...)})
	}
}

// FailNext makes the next n requests answer status with a Google-style error body, and a
// Retry-After header when retryAfter is not empty. A pending SetRawResponse goes first.
func (e *Emulator) FailNext(n, status int, retryAfter string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failN, e.failStatus, e.failRetry = n, status, retryAfter
}

// SetDelay makes every request wait d before it is answered; a request whose client goes
// away meanwhile is dropped without an answer.
func (e *Emulator) SetDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.delay = d
}

// SetRawResponse makes the next request answer 200 with body verbatim (for truncated or
// invalid JSON).
func (e *Emulator) SetRawResponse(body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.raw = &body
}

// ServeStaleFor freezes what is served for d from now: requests see the tabs as they are at
// this call even if SetSheet changes them meanwhile, like the real API's stale reads after a
// write.
func (e *Emulator) ServeStaleFor(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stale = make(map[string][][]any, len(e.sheets))
	for name, grid := range e.sheets {
		e.stale[name] = cloneGrid(grid)
	}
	e.staleOrder = append([]string(nil), e.order...)
	e.staleUntil = time.Now().Add(d)
}

// Requests is how many requests reached the emulator, whatever their outcome.
func (e *Emulator) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// Reads returns every request the emulator saw, in order.
func (e *Emulator) Reads() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, len(e.reads))
	for i, r := range e.reads {
		r.Ranges = append([]string(nil), r.Ranges...)
		r.Query = cloneValues(r.Query)
		out[i] = r
	}
	return out
}

// BytesServed is the total size of the response bodies written.
func (e *Emulator) BytesServed() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bytesServed
}

// version is the tabs as they were from at on (for SetReadLag).
type version struct {
	at     time.Time
	sheets map[string][][]any
	order  []string
}

// SetReadLag makes every read see the tabs as they were d ago (0 turns it off): each change
// made with SetSheet becomes visible d later, in order, like a sheet whose reads lag its
// writes by d. Unlike ServeStaleFor, a steady stream of writes cannot shorten the lag.
func (e *Emulator) SetReadLag(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lag = d
	// The tabs as they are now count as old enough: they were there before the lag began.
	e.versions = []version{{sheets: copySheets(e.sheets), order: append([]string(nil), e.order...)}}
}

func copySheets(m map[string][][]any) map[string][][]any {
	out := make(map[string][][]any, len(m))
	for name, g := range m {
		out[name] = g // grids are replaced, never changed in place
	}
	return out
}

// lagged is the newest version at least lag old, dropping the versions before it. Called with
// e.mu held.
func (e *Emulator) lagged(now time.Time) version {
	cut := now.Add(-e.lag)
	i := 0
	for i+1 < len(e.versions) && !e.versions[i+1].at.After(cut) {
		i++
	}
	e.versions = e.versions[i:]
	return e.versions[0]
}

// plan is what one request will get, decided under the lock when it arrives.
type plan struct {
	delay      time.Duration
	raw        *string
	failStatus int
	failRetry  string
	sheets     map[string][][]any
	order      []string
}

func (e *Emulator) handle(w http.ResponseWriter, r *http.Request) {
	req := parseRequest(r)
	p := e.admit(req)

	if p.delay > 0 {
		timer := time.NewTimer(p.delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	switch {
	case p.raw != nil:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		e.write(w, http.StatusOK, []byte(*p.raw))
	case p.failStatus != 0:
		if p.failRetry != "" {
			w.Header().Set("Retry-After", p.failRetry)
		}
		e.writeError(w, p.failStatus, injectedMessage(p.failStatus))
	default:
		e.answer(w, req, p)
	}
}

// admit counts the request and takes the faults meant for it.
func (e *Emulator) admit(req Request) plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests++
	e.reads = append(e.reads, req)
	p := plan{delay: e.delay, sheets: e.sheets, order: e.order}
	if now := time.Now(); e.lag > 0 {
		v := e.lagged(now)
		p.sheets, p.order = v.sheets, v.order
	} else if now.Before(e.staleUntil) {
		p.sheets, p.order = e.stale, e.staleOrder
	}
	switch {
	case e.raw != nil:
		p.raw, e.raw = e.raw, nil
	case e.failN > 0:
		e.failN--
		p.failStatus, p.failRetry = e.failStatus, e.failRetry
	}
	// The request is served outside the lock, so it gets its own map of the tabs. The grids
	// themselves can be shared: SetSheet replaces a grid, it never changes one in place.
	grids := make(map[string][][]any, len(p.sheets))
	for name, g := range p.sheets {
		grids[name] = g
	}
	p.sheets = grids
	p.order = append([]string(nil), p.order...)
	return p
}

func (e *Emulator) answer(w http.ResponseWriter, req Request, p plan) {
	if req.Method != http.MethodGet {
		e.writeError(w, http.StatusMethodNotAllowed, "Method not allowed: the emulator serves GET values.get and values.batchGet only.")
		return
	}
	segs := strings.Split(strings.TrimPrefix(req.Path, "/"), "/")
	var ranges []string
	switch {
	case len(segs) == 4 && segs[0] == "v4" && segs[1] == "spreadsheets" && segs[3] == "values:batchGet":
		ranges = req.Ranges
		if len(ranges) == 0 {
			// The real API answers an empty batchGet with just the id.
			e.writeJSON(w, map[string]any{"spreadsheetId": req.SpreadsheetID})
			return
		}
	case len(segs) == 5 && segs[0] == "v4" && segs[1] == "spreadsheets" && segs[3] == "values":
		ranges = req.Ranges
	default:
		e.writeError(w, http.StatusNotFound, fmt.Sprintf("Method not found: %s", req.Path))
		return
	}
	if req.SpreadsheetID != e.id {
		e.writeError(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	dim := req.MajorDimension
	if dim == "" || dim == "DIMENSION_UNSPECIFIED" {
		dim = dimensionRows
	}
	if dim != dimensionRows && dim != dimensionColumns {
		e.writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'major_dimension' (type.googleapis.com/google.apps.sheets.v4.Dimension), %q", dim))
		return
	}
	render := req.ValueRenderOption
	if render == "" {
		render = formattedValue
	}
	if render != formattedValue && render != unformattedValue && render != formulaValue {
		e.writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'value_render_option' (type.googleapis.com/google.apps.sheets.v4.ValueRenderOption), %q", render))
		return
	}
	out := make([]valueRange, 0, len(ranges))
	for _, text := range ranges {
		rg, err := parseA1(text)
		if err != nil {
			e.writeError(w, http.StatusBadRequest, "Unable to parse range: "+text)
			return
		}
		name := rg.sheet
		if name == "" && len(p.order) > 0 {
			name = p.order[0]
		}
		grid, ok := p.sheets[name]
		if !ok {
			e.writeError(w, http.StatusBadRequest, "Unable to parse range: "+text)
			return
		}
		out = append(out, serve(name, grid, rg, dim, render))
	}
	if segs[3] == "values" {
		e.writeJSON(w, out[0])
		return
	}
	e.writeJSON(w, struct {
		SpreadsheetID string       `json:"spreadsheetId"`
		ValueRanges   []valueRange `json:"valueRanges"`
	}{req.SpreadsheetID, out})
}

func (e *Emulator) writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		e.writeError(w, http.StatusInternalServerError, "emulator: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	e.write(w, http.StatusOK, body)
}

// writeError answers with Google's JSON error shape.
func (e *Emulator) writeError(w http.ResponseWriter, code int, message string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": "global", "reason": reason(code)}},
		"status":  grpcStatus(code),
	}})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	e.write(w, code, body)
}

func (e *Emulator) write(w http.ResponseWriter, code int, body []byte) {
	w.WriteHeader(code)
	n, _ := w.Write(body)
	e.mu.Lock()
	e.bytesServed += int64(n)
	e.mu.Unlock()
}

// parseRequest reads the spreadsheet id, ranges and options of a request. The range of a
// values.get is a path segment the client escaped (a sheet name may hold "/"), so the path is
// split before it is unescaped.
func parseRequest(r *http.Request) Request {
	q := r.URL.Query()
	req := Request{
		Method:               r.Method,
		Path:                 r.URL.Path,
		MajorDimension:       q.Get("majorDimension"),
		ValueRenderOption:    q.Get("valueRenderOption"),
		DateTimeRenderOption: q.Get("dateTimeRenderOption"),
		Query:                q,
	}
	raw := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		segs[i] = u
	}
	if len(segs) >= 3 {
		req.SpreadsheetID = segs[2]
	}
	switch {
	case len(segs) == 4 && segs[3] == "values:batchGet":
		req.Ranges = q["ranges"]
	case len(segs) == 5 && segs[3] == "values":
		req.Ranges = []string{segs[4]}
	}
	req.Path = "/" + strings.Join(segs, "/")
	return req
}

func injectedMessage(code int) string {
	switch {
	case code == http.StatusTooManyRequests:
		return "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com'."
	case code >= 500:
		return "The service is currently unavailable."
	}
	return http.StatusText(code)
}

func reason(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusUnauthorized:
		return "authError"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "notFound"
	case http.StatusTooManyRequests:
		return "rateLimitExceeded"
	}
	if code >= 500 {
		return "backendError"
	}
	return "unknown"
}

func grpcStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
