package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"reconciler/adapters/redislock"
	"reconciler/jobs"
	"reconciler/worker"
)

// runExplain answers "why is this spool locked (or free)?": it reads the sheet (one request)
// and Redis, writes nothing (not even to the read budget), prints the verdict and the evidence.
// Exit 0 in sync, free or unknown; 3 for every other verdict (see jobs.Verdict.Drift); 1
// error; 2 usage.
func runExplain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf commonFlags
	asJSON := false
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	cf.register(fs, true, false)
	fs.BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: reconciler explain TAG [--json] [--redis-url URL] [--sheet-csv FILE]")
		fs.PrintDefaults()
	}
	tag, args, ok := takeTag(args)
	if code, ok2 := parseFlags(fs, args, stderr); !ok2 {
		return code
	}
	if !ok || strings.TrimSpace(tag) == "" {
		fmt.Fprintln(stderr, "reconciler explain: which spool? give its TAG")
		fs.Usage()
		return exitUsage
	}
	s, rdb, code := connectForRead(ctx, cf, getenv, true, "explain", stderr)
	if rdb == nil {
		return code
	}
	defer rdb.Close()
	sheet, err := newSheet(ctx, s, slog.New(slog.NewTextHandler(stderr, nil)), nil)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	store := newStore(rdb, s)
	x := worker.NewExplainer(s.Worker, sheet, store, store)
	ctx, cancel := context.WithTimeout(ctx, s.Worker.Tasks.ReconcileDeadline*3)
	defer cancel()
	e, err := x.Explain(ctx, tag)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler explain:", err)
		return exitError
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(e)
	} else {
		printExplanation(stdout, e, s.Location)
	}
	if e.Verdict.Drift() {
		return exitDrift
	}
	return exitOK
}

// takeTag takes the first argument that is not a flag (the TAG may come before or after the
// flags); ok is false when there is none.
func takeTag(args []string) (string, []string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1], append(append([]string{}, args[:i]...), args[i+2:]...), true
			}
			return "", args[:i], false
		case strings.HasPrefix(a, "-"):
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && (name == "redis-url" || name == "sheet-csv" || name == "spool" || name == "since") {
				i++ // its value follows
			}
		default:
			return a, append(append([]string{}, args[:i]...), args[i+1:]...), true
		}
	}
	return "", args, false
}

const clockLayout = "02-01-2006 15:04:05"

func printExplanation(w io.Writer, e jobs.Explanation, loc *time.Location) {
	at := func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.In(loc).Format(clockLayout)
	}
	fmt.Fprintf(w, "%s: %s\n  %s\n", e.Tag, e.Verdict, e.Summary)
	next := e.Next.Action
	switch {
	case e.Next.Action == jobs.NextNone:
		next = "nothing"
	case e.Next.At != nil:
		next += " at " + at(e.Next.At)
	default:
		next += " at the next reconcile"
	}
	fmt.Fprintf(w, "next:     %s\n", next)
	if len(e.Sheet.Rows) == 0 {
		fmt.Fprintln(w, "sheet:    no row")
	}
	for _, r := range e.Sheet.Rows {
		fmt.Fprintf(w, "sheet:    row %d  holder %q  occupied %s  class %s\n", r.Row, r.Holder, at(r.OccupiedAt), r.Class)
	}
	if l := e.Lock; l == nil {
		fmt.Fprintln(w, "lock:     none")
	} else {
		worker, ttl := "unknown", "none (persistent)"
		if l.WorkerID != nil {
			worker = fmt.Sprint(*l.WorkerID)
		}
		if l.TTLMs >= 0 {
			ttl = (time.Duration(l.TTLMs) * time.Millisecond).String()
		}
		fmt.Fprintf(w, "lock:     %q  worker %s  occupied %s  TTL %s\n", l.Value, worker, at(l.OccupiedAt), ttl)
	}
	if o := e.Orphan; o != nil {
		fmt.Fprintf(w, "orphan:   first seen unbacked %s, released at %s\n", at(o.FirstSeen), at(o.ReleaseAt))
	}
	if e.TombstoneUntil != nil {
		fmt.Fprintf(w, "released: tombstone refuses restores until %s\n", at(e.TombstoneUntil))
	}
	if m := e.RestoreMarker; m != nil {
		fmt.Fprintf(w, "restored: %q at %s, checked against a fresh sheet at %s\n", m.Value, at(&m.At), at(&m.VerifyAt))
	}
	suspect := "no"
	if e.SheetSuspect {
		suspect = "YES: the worker writes nothing until it is accepted"
	}
	fmt.Fprintf(w, "suspect:  %s\n", suspect)
	if len(e.History) == 0 {
		fmt.Fprintln(w, "history:  none")
		return
	}
	fmt.Fprintf(w, "history (newest %d):\n", len(e.History))
	for _, h := range e.History {
		printHistoryLine(w, "", h.At, h.Action, h.Value, h.RunID, h.Trigger, h.Detail, loc)
	}
}

func printHistoryLine(w io.Writer, tag string, at time.Time, action, value, runID, trigger, detail string, loc *time.Location) {
	line := "  " + at.In(loc).Format(clockLayout) + "  "
	if tag != "" {
		line += fmt.Sprintf("%-24s ", tag)
	}
	line += fmt.Sprintf("%-14s", action)
	if value != "" {
		line += " " + value
	}
	if trigger != "" || runID != "" {
		line += fmt.Sprintf("  (%s %s)", trigger, runID)
	}
	if detail != "" {
		line += "  " + detail
	}
	fmt.Fprintln(w, line)
}

// runHistory lists the history stream, newest first: every entry, or one spool's, since a
// time. It reads Redis only and writes nothing.
func runHistory(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf commonFlags
	var spool string
	var since time.Duration
	asJSON := false
	limit := 0
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	cf.register(fs, false, false)
	fs.StringVar(&spool, "spool", "", "only this spool's entries (TAG, trimmed)")
	fs.DurationVar(&since, "since", 0, "only entries younger than this (e.g. 1h, 30m)")
	fs.IntVar(&limit, "limit", 0, "at most this many entries (0: all)")
	fs.BoolVar(&asJSON, "json", false, "print the entries as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if since < 0 || limit < 0 {
		fmt.Fprintln(stderr, "reconciler history: --since and --limit must not be negative")
		return exitUsage
	}
	s, rdb, code := connectForRead(ctx, cf, getenv, false, "history", stderr)
	if rdb == nil {
		return code
	}
	defer rdb.Close()
	store := newStore(rdb, s)
	q := jobs.HistoryQuery{Tag: strings.TrimSpace(spool), Limit: limit}
	if since > 0 {
		now, err := store.Now(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "reconciler history:", err)
			return exitError
		}
		q.Since = now.Add(-since)
	}
	entries, err := store.History(ctx, q)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler history:", err)
		return exitError
	}
	if asJSON {
		out := make([]historyLine, 0, len(entries))
		for _, e := range entries {
			out = append(out, historyLine{ID: e.ID, At: e.At.In(s.Location), Tag: e.Tag, Action: e.Action, Value: e.Value,
				RunID: e.RunID, Trigger: e.Trigger, Detail: e.Detail})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return exitOK
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "no history entries (HISTORY_MAX %s)\n", historyMaxLabel(store))
	}
	for _, e := range entries {
		printHistoryLine(stdout, e.Tag, e.At, e.Action, e.Value, e.RunID, e.Trigger, e.Detail, s.Location)
	}
	return exitOK
}

// historyLine is one entry of `history --json`: explain's history fields plus the tag and the
// stream entry's ID.
type historyLine struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Tag     string    `json:"tag"`
	Action  string    `json:"action"`
	Value   string    `json:"value"`
	RunID   string    `json:"run_id"`
	Trigger string    `json:"trigger"`
	Detail  string    `json:"detail"`
}

func historyMaxLabel(s *redislock.Store) string {
	if s.HistoryMax() == 0 {
		return "off"
	}
	return fmt.Sprint(s.HistoryMax())
}
