package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"reconciler/jobs"
)

// runPlan reads the sheet and Redis and says what a reconcile would do, writing nothing to
// Redis (not even to the read budget, the accepted snapshot or the suspect state). Exit 0 in
// sync, 3 drift (a suspect sheet is drift: it and Redis disagree and a person must act), 1
// error, 2 usage.
func runPlan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf commonFlags
	asJSON := false
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	cf.register(fs, true, false)
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	v, code := planReadOnly(ctx, cf, getenv, "plan", stderr)
	if code != exitOK {
		return code
	}
	defer v.rdb.Close()
	s, plan := v.s, v.plan
	rep := &plan.Report
	rep.Trigger, rep.DryRun, rep.FinishedAt = "plan", true, rep.StartedAt
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		out := planOutput{Report: rep, Drift: rep.Drift(), SheetSuspect: rep.SheetSuspect, Restores: restoreLines(plan.Restores),
			Orphans: orphanLines(plan.Orphans, s.Worker.OrphanGrace), Retractions: retractionLines(plan.Judgement.Retract)}
		out.SuspectRecorded = v.recorded
		_ = enc.Encode(out)
	} else {
		printPlan(stdout, rep, plan, s.Worker.OrphanGrace)
		printSuspectState(stdout, v.recorded)
	}
	if rep.Drift() {
		return exitDrift
	}
	return exitOK
}

type planOutput struct {
	Report *jobs.Report `json:"report"`
	Drift  bool         `json:"drift"`
	// SheetSuspect is this snapshot's verdict (the report has its reason and examples);
	// SuspectRecorded is the workers' recorded state, null when they trust the sheet.
	SheetSuspect    bool               `json:"sheet_suspect"`
	SuspectRecorded *jobs.SuspectState `json:"suspect_recorded"`
	Restores        []string           `json:"restores"`
	Orphans         []orphanLine       `json:"orphans"`
	Retractions     []string           `json:"retractions"`
}

// orphanLine is one orphan as `plan --json` lists it. UnbackedSeconds comes from the stored
// first sighting; an orphan no run has recorded yet (or with ORPHAN_GRACE off) has none.
type orphanLine struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
	// RowHolder is set when the spool's row shows another worker's occupation (the spool was
	// re-taken in degraded mode beside this lock); empty when no row of the spool is taken.
	RowHolder       string     `json:"row_holder,omitempty"`
	FirstSeen       *time.Time `json:"first_seen,omitempty"`
	UnbackedSeconds int64      `json:"unbacked_seconds"`
	PastGrace       bool       `json:"past_grace"`
}

func orphanLines(orphans []jobs.Orphan, grace time.Duration) []orphanLine {
	out := make([]orphanLine, 0, len(orphans))
	for _, o := range orphans {
		l := orphanLine{Tag: o.Tag, Value: o.Lock.Value, RowHolder: o.Holder, UnbackedSeconds: int64(o.Unbacked / time.Second)}
		if !o.FirstSeen.IsZero() {
			at := o.FirstSeen
			l.FirstSeen = &at
			l.PastGrace = grace > 0 && o.Unbacked >= grace
		}
		out = append(out, l)
	}
	return out
}

func retractionLines(rs []jobs.Retraction) []string {
	out := make([]string, 0, len(rs))
	for _, x := range rs {
		out = append(out, x.Tag+" "+x.Lock.Value)
	}
	return out
}

func restoreLines(cs []jobs.Classified) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fmt.Sprintf("row %d %s %s", c.Number, c.Tag, c.Holder))
	}
	return out
}

func printPlan(w io.Writer, r *jobs.Report, plan jobs.Plan, grace time.Duration) {
	restores := plan.Restores
	PrintReport(w, r)
	for i, c := range restores {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more\n", len(restores)-20)
			break
		}
		fmt.Fprintf(w, "  would restore: row %d  %s  %s\n", c.Number, c.Tag, c.Holder)
	}
	printOrphans(w, plan.Orphans, grace)
	for _, x := range plan.Judgement.Retract {
		if x.Replace != nil {
			fmt.Fprintf(w, "  would replace (restored, the row shows another occupation): %s  %s  with row %d  %s\n",
				x.Tag, x.Lock.Value, x.Replace.Number, x.Replace.Holder)
			continue
		}
		fmt.Fprintf(w, "  would retract (restored, no longer backed): %s  %s\n", x.Tag, x.Lock.Value)
	}
	switch {
	case r.SheetSuspect:
		fmt.Fprintln(w, "drift: the sheet is suspect as a whole; the worker writes nothing until it is put right, or accepted with `reconciler accept-sheet`")
	case r.Drift():
		fmt.Fprintf(w, "drift: %d missing, %d held by someone else, %d orphans past ORPHAN_GRACE, %d restored locks no longer backed\n",
			r.Missing, r.HolderMismatch, r.OrphansPastGrace, r.RetractionsDue)
	default:
		fmt.Fprintln(w, "in sync")
	}
}

// printSuspectState says what the workers recorded: plan's own verdict can differ from it for
// a moment (the sheet changed since the last run).
func printSuspectState(w io.Writer, st *jobs.SuspectState) {
	if st == nil {
		fmt.Fprintln(w, "workers: sheet trusted")
		return
	}
	fmt.Fprintf(w, "workers: sheet suspect since %s (%s ago): %s\n", st.Since.Format(time.RFC3339),
		time.Since(st.Since).Round(time.Second), st.Reason)
}

// printOrphans lists orphans with how long each has been unbacked, from the first sighting a
// worker stored (plan itself records nothing).
func printOrphans(w io.Writer, orphans []jobs.Orphan, grace time.Duration) {
	for i, o := range orphans {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more orphans\n", len(orphans)-20)
			return
		}
		since := "not yet recorded by a worker"
		if !o.FirstSeen.IsZero() {
			since = "unbacked for " + o.Unbacked.Round(time.Second).String()
			if grace > 0 && o.Unbacked >= grace {
				since += ", past ORPHAN_GRACE " + grace.String()
			}
		}
		if o.Backing == jobs.OtherHolder {
			since = "the row shows " + o.Holder + "; " + since
		}
		fmt.Fprintf(w, "  orphan: %s  %s  (%s)\n", o.Tag, o.Lock.Value, since)
	}
}
