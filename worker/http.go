package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// Handler is the process's HTTP surface: /healthz, /readyz, /metrics, /monitor/ (asynqmon),
// POST /reconcile, the spool pages (/spools/) and, with PPROF=on, Go's profiler at
// /debug/pprof/. All but the first three need basic auth; without MONITOR_PASSWORD they are not
// served at all, except in embedded mode (which listens on 127.0.0.1) to loopback requests.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", w.readyz)
	w.metrics.registerQueues(w.inspector)
	w.metrics.registerSuspect(w.store)
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.Registry, promhttp.HandlerOpts{}))

	monitor := asynqmon.New(asynqmon.Options{
		RootPath:         "/monitor",
		RedisConnOpt:     sharedRedis{w.rdb},
		PayloadFormatter: asynqmon.PayloadFormatterFunc(prettyJSON),
		ResultFormatter:  asynqmon.ResultFormatterFunc(prettyJSON),
	})
	// monitor.Close would close the shared Redis client: it is never called.
	// A browser sends cached basic-auth credentials with cross-site requests too, so a page
	// elsewhere could pause queues or delete tasks through a logged-in operator's browser:
	// state-changing requests from another origin are refused (403).
	sameOrigin := http.NewCrossOriginProtection()
	mux.Handle("/monitor/", w.guard(sameOrigin.Handler(monitor)))
	mux.Handle("/monitor", http.RedirectHandler("/monitor/", http.StatusMovedPermanently))
	mux.Handle("POST /reconcile", w.guard(sameOrigin.Handler(http.HandlerFunc(w.postReconcile))))
	// Read-only, GET only: /spools/ is the page, /spools/{TAG} explain's JSON ({tag...} takes
	// the rest of the path, so a tag holding "/" works, escaped or not).
	mux.Handle("GET /spools/{tag...}", w.guard(http.HandlerFunc(w.spoolJSON)))
	mux.Handle("GET /spools", http.RedirectHandler("/spools/", http.StatusMovedPermanently))
	if w.cfg.Pprof {
		// Read-only profiles for the benchmarks and for a worker that misbehaves in production;
		// GET only, so another origin cannot start a CPU profile through an operator's browser
		// any more than it can read one (basic auth, and a browser does not show the answer).
		mux.Handle("GET /debug/pprof/", w.guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", w.guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/trace", w.guard(http.HandlerFunc(pprof.Trace)))
	}
	return mux
}

// sharedRedis hands asynqmon the process's one Redis pool.
type sharedRedis struct{ c redis.UniversalClient }

func (s sharedRedis) MakeRedisClient() any { return s.c }

func prettyJSON(_ string, b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// guard enforces basic auth with a constant-time comparison of both user and password.
// Without MONITOR_PASSWORD the guarded routes are off (404), except in embedded mode for
// requests that come from and are addressed to the loopback interface.
func (w *Worker) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.cfg.MonitorPassword == "" {
			if w.cfg.Embedded && loopbackRequest(r) {
				next.ServeHTTP(rw, r)
				return
			}
			http.Error(rw, "not served: set MONITOR_PASSWORD (and MONITOR_USER, default admin) to enable /monitor/, /spools/ and POST /reconcile", http.StatusNotFound)
			return
		}
		user, pass, ok := r.BasicAuth()
		// Both comparisons always run: skipping the password when the user is wrong would
		// tell a caller, by timing, that the user name is right.
		userOK := equalSecret(user, w.cfg.MonitorUser)
		passOK := equalSecret(pass, w.cfg.MonitorPassword)
		if !ok || !userOK || !passOK {
			rw.Header().Set("WWW-Authenticate", `Basic realm="reconciler", charset="UTF-8"`)
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// equalSecret compares in constant time; hashing first hides the lengths as well. It is a
// variable so that tests can check that every request compares both user and password.
var equalSecret = func(got, want string) bool {
	g, h := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], h[:]) == 1
}

// loopbackRequest says whether r came from the loopback interface and names a loopback host
// (the Host check keeps a DNS-rebinding web page from reaching the open embedded monitor).
func loopbackRequest(r *http.Request) bool {
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(remote); ip == nil || !ip.IsLoopback() {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready bool   `json:"ready"`
	Redis string `json:"redis"`
	// SheetSuspect is the cluster's suspect state (nil when unknown: Redis unreachable).
	SheetSuspect *SuspectSummary `json:"sheet_suspect,omitempty"`
	LastReport   *ReportSummary  `json:"last_report,omitempty"`
}

// SuspectSummary is /readyz's view of the suspect state: while Suspect, runs write nothing
// until the sheet is put right or accepted (`reconciler accept-sheet`). Readiness does not
// depend on it: the worker still judges every snapshot and serves its surfaces.
type SuspectSummary struct {
	Suspect  bool       `json:"suspect"`
	Since    *time.Time `json:"since,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Examples []string   `json:"examples,omitempty"`
}

// ReportSummary is the short form of the last report: the run, its rows and problems, and the
// counts jobs marks for the summary (jobs.Count.Summary), as members of the same JSON object
// ("missing": 3), not nested.
type ReportSummary struct {
	RunID      string    `json:"run_id"`
	Trigger    string    `json:"trigger"`
	DryRun     bool      `json:"dry_run"`
	FinishedAt time.Time `json:"finished_at"`
	Rows       int       `json:"rows"`
	Problems   int       `json:"problems"`
	// SheetSuspect says that run judged its snapshot suspect and wrote nothing.
	SheetSuspect bool           `json:"sheet_suspect"`
	Counts       map[string]int `json:"-"` // by jobs.Count name
}

func summarize(rep *jobs.Report) *ReportSummary {
	s := &ReportSummary{RunID: rep.RunID, Trigger: rep.Trigger, DryRun: rep.DryRun, FinishedAt: rep.FinishedAt,
		Rows: rep.Rows, Problems: rep.ProblemsTotal, SheetSuspect: rep.SheetSuspect, Counts: map[string]int{}}
	for _, c := range rep.Counts() {
		if c.Summary {
			s.Counts[c.Name] = c.Value
		}
	}
	return s
}

// MarshalJSON writes the fixed fields, then the counts as members of the same object.
func (s ReportSummary) MarshalJSON() ([]byte, error) {
	type fields ReportSummary // without this method
	head, err := json.Marshal(fields(s))
	if err != nil || len(s.Counts) == 0 {
		return head, err
	}
	counts, err := json.Marshal(s.Counts)
	if err != nil {
		return nil, err
	}
	// Both are objects: drop head's "}" and counts' "{" and join them with a comma.
	return append(append(head[:len(head)-1], ','), counts[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes: the members named by a summary count go to Counts.
func (s *ReportSummary) UnmarshalJSON(b []byte) error {
	type fields ReportSummary
	if err := json.Unmarshal(b, (*fields)(s)); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	s.Counts = map[string]int{}
	for _, c := range (&jobs.Report{}).Counts() {
		if raw, ok := members[c.Name]; ok && c.Summary {
			var n int
			if err := json.Unmarshal(raw, &n); err != nil {
				return fmt.Errorf("report summary %q: %w", c.Name, err)
			}
			s.Counts[c.Name] = n
		}
	}
	return nil
}

func (w *Worker) readyz(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	body := Readiness{Redis: "ok"}
	status := http.StatusOK
	if err := w.rdb.Ping(ctx).Err(); err != nil {
		body.Redis = "unreachable"
		status = http.StatusServiceUnavailable
	} else {
		if st, suspect, err := w.store.Suspect(ctx); err == nil {
			body.SheetSuspect = &SuspectSummary{Suspect: suspect}
			if suspect {
				since := st.Since
				body.SheetSuspect.Since, body.SheetSuspect.Reason, body.SheetSuspect.Examples = &since, st.Reason, st.Examples
			}
		}
		if raw, err := w.store.LastReport(ctx); err == nil && raw != nil {
			var rep jobs.Report
			if json.Unmarshal(raw, &rep) == nil {
				body.LastReport = summarize(&rep)
			}
		}
	}
	body.Ready = status == http.StatusOK
	writeJSON(rw, status, body)
}

// ReconcileRequest is the body of POST /reconcile (JSON), or the same as form/query fields
// (spool may repeat; dry_run=true).
type ReconcileRequest struct {
	Spools []string `json:"spool"`
	DryRun bool     `json:"dry_run"`
}

func (w *Worker) postReconcile(rw http.ResponseWriter, r *http.Request) {
	req, err := parseReconcileRequest(rw, r)
	if err != nil {
		writeJSON(rw, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	info, err := w.Enqueue(r.Context(), jobs.ReconcilePayload{Trigger: jobs.TriggerManual, Spools: req.Spools, DryRun: req.DryRun})
	if err != nil {
		writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"error": "queue reconcile: " + err.Error()})
		return
	}
	writeJSON(rw, http.StatusAccepted, map[string]any{"task_id": info.ID, "queue": info.Queue, "spool": req.Spools, "dry_run": req.DryRun})
}

func parseReconcileRequest(rw http.ResponseWriter, r *http.Request) (ReconcileRequest, error) {
	var req ReconcileRequest
	r.Body = http.MaxBytesReader(rw, r.Body, 1<<20)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		// An empty body is a full reconcile, as it is without a Content-Type.
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			return req, fmt.Errorf("decode JSON body: %w (want {\"spool\": [\"TAG\"], \"dry_run\": false})", err)
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return req, fmt.Errorf("parse form: %w", err)
		}
		req.Spools = r.Form["spool"]
		if v := r.Form.Get("dry_run"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return req, fmt.Errorf("dry_run %q: want true or false", v)
			}
			req.DryRun = b
		}
	}
	for i, s := range req.Spools {
		req.Spools[i] = strings.TrimSpace(s)
		if req.Spools[i] == "" {
			return req, fmt.Errorf("spool %d is empty", i+1)
		}
	}
	return req, nil
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
