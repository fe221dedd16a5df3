package worker

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"reconciler/jobs"
)

// The spool pages (docs/design.md, "Explaining a spool"): GET /spools/{TAG} answers explain's
// JSON, GET /spools/?tag=TAG is a server-side HTML page with a search box. Both are read-only
// (GET only: nothing on them acts) and behind the monitor's basic auth. Each answer reads the
// sheet once, so it takes one read from SHEETS_MAX_READS_PER_MINUTE like a reconcile (when the
// budget is spent it answers 503 with Retry-After rather than spend Google's quota).
//
// Tags are text anyone with edit access to the sheet writes: the page escapes everything
// (html/template), and tags with spaces, "/" or non-ASCII letters work in both URLs (the
// {tag...} wildcard takes the rest of the path, "/" included, unescaped by the mux).

//go:embed spools.html
var spoolsPageSource string

var spoolsPage = template.Must(template.New("spools").Funcs(template.FuncMap{
	"pathEscape": url.PathEscape,
}).Parse(spoolsPageSource))

// spoolsTimeout bounds one explanation (a sheet read with its retries, a few Redis reads).
const spoolsTimeout = 20 * time.Second

// spoolJSON serves GET /spools/{TAG...}: the explanation as JSON, or the page for /spools/.
func (w *Worker) spoolJSON(rw http.ResponseWriter, r *http.Request) {
	tag := strings.TrimSpace(r.PathValue("tag"))
	if tag == "" {
		w.spoolPage(rw, r)
		return
	}
	e, status, err := w.explain(r.Context(), tag)
	if err != nil {
		writeJSON(rw, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(rw, http.StatusOK, e)
}

// explain takes one read from the budget and explains tag; on error it says which status.
func (w *Worker) explain(ctx context.Context, tag string) (jobs.Explanation, int, error) {
	ctx, cancel := context.WithTimeout(ctx, spoolsTimeout)
	defer cancel()
	if w.budget != nil {
		ok, next, err := w.budget.Take(ctx)
		if err != nil {
			return jobs.Explanation{}, http.StatusServiceUnavailable, fmt.Errorf("Redis: %w", err)
		}
		if !ok {
			return jobs.Explanation{}, http.StatusServiceUnavailable, &budgetSpent{next}
		}
	}
	e, err := w.explainer.Explain(ctx, tag)
	if err != nil {
		return jobs.Explanation{}, http.StatusBadGateway, err
	}
	return e, http.StatusOK, nil
}

type budgetSpent struct{ next time.Time }

func (b *budgetSpent) Error() string {
	return "the Sheets read budget (SHEETS_MAX_READS_PER_MINUTE) is spent; try again after " + b.next.UTC().Format(time.RFC3339)
}

// pageData is what spools.html shows.
type pageData struct {
	Query    string
	JSONPath string // /spools/{escaped tag}
	E        *jobs.Explanation
	Error    string
	Next     string
	Lock     *lockLine
	History  []historyRow
	Now      string
	Location string
}

type lockLine struct {
	Value, Worker, Occupied, TTL string
}

type historyRow struct {
	Ago, At, Action, Value, Trigger, RunID, Detail string
}

// spoolPage serves /spools/?tag=TAG.
func (w *Worker) spoolPage(rw http.ResponseWriter, r *http.Request) {
	loc := w.cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	now := time.Now()
	d := pageData{Query: strings.TrimSpace(r.URL.Query().Get("tag")), Now: now.In(loc).Format(pageClock), Location: loc.String()}
	status := http.StatusOK
	if d.Query != "" {
		d.JSONPath = "/spools/" + url.PathEscape(d.Query)
		e, st, err := w.explain(r.Context(), d.Query)
		var spent *budgetSpent
		if errors.As(err, &spent) {
			rw.Header().Set("Retry-After", strconv.Itoa(max(1, int(time.Until(spent.next).Seconds()+0.999))))
		}
		if err != nil {
			status, d.Error = st, err.Error()
		} else {
			d.E = &e
			d.Next = nextText(e.Next, loc, now)
			d.Lock = lockText(e.Lock, loc)
			for _, h := range e.History {
				d.History = append(d.History, historyRow{Ago: ago(now, h.At), At: h.At.In(loc).Format(pageClock),
					Action: h.Action, Value: h.Value, Trigger: h.Trigger, RunID: h.RunID, Detail: h.Detail})
			}
		}
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page only reads: no script runs, nothing embeds it elsewhere.
	rw.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	if err := spoolsPage.Execute(rw, d); err != nil {
		w.log.Warn("render /spools/", "err", err)
	}
}

const pageClock = "02-01-2006 15:04:05"

func nextText(n jobs.NextStep, loc *time.Location, now time.Time) string {
	if n.Action == jobs.NextNone {
		return "nothing"
	}
	if n.At == nil {
		return n.Action + " at the next reconcile"
	}
	s := n.Action + " at " + n.At.In(loc).Format(pageClock)
	if n.At.After(now) {
		s += " (in " + roughly(n.At.Sub(now)) + ")"
	}
	return s
}

func lockText(l *jobs.LockView, loc *time.Location) *lockLine {
	if l == nil {
		return nil
	}
	out := &lockLine{Value: l.Value, Worker: "unknown", Occupied: "unknown", TTL: "none (persistent)"}
	if l.WorkerID != nil {
		out.Worker = strconv.Itoa(*l.WorkerID)
	}
	if l.OccupiedAt != nil {
		out.Occupied = l.OccupiedAt.In(loc).Format(pageClock)
	}
	if l.TTLMs >= 0 {
		out.TTL = (time.Duration(l.TTLMs) * time.Millisecond).String()
	}
	return out
}

// ago is a relative time for people: "just now", "3 min ago", "2 h ago", "4 days ago".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	if d < 10*time.Second {
		return "just now"
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}
