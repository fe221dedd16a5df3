package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"reconciler/jobs"
)

// PrintReport writes a report for a person: what ran, counts, then the problems.
func PrintReport(w io.Writer, r *jobs.Report) {
	if r == nil {
		fmt.Fprintln(w, "no report")
		return
	}
	if head := reportHead(r); head != "" {
		fmt.Fprintln(w, head)
	}
	if r.DeferredUntil != nil {
		// Nothing was read: zero counts would read as "in sync".
		what := "reconcile"
		if r.DryRun {
			what = "dry run (it stays dry)"
		}
		fmt.Fprintf(w, "deferred: the Sheets read budget (SHEETS_MAX_READS_PER_MINUTE) was spent; nothing was read, one full %s is queued for %s\n",
			what, r.DeferredUntil.Format(time.RFC3339))
		return
	}
	counts := r.Counts()
	fmt.Fprintf(w, "rows %d: %s (warnings: %s)\n", r.Rows, countList(counts, jobs.CountClass), countList(counts, jobs.CountWarning))
	fmt.Fprintf(w, "locks: %s; sheets requests %d\n", countList(counts, jobs.CountLocks), r.SheetsRequests)
	if r.SheetSuspect {
		fmt.Fprintf(w, "sheet suspect: %s; nothing is written until the sheet is put right or accepted (reconciler accept-sheet)\n", r.SuspectReason)
		for _, e := range r.SuspectExamples {
			fmt.Fprintf(w, "  lost: %s\n", e)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  row %d  %-15s %-22q %s\n", p.Row, p.Class, p.Tag, p.Detail)
	}
	if more := r.ProblemsTotal - len(r.Problems); more > 0 {
		fmt.Fprintf(w, "  … and %d more problems\n", more)
	}
}

// countList writes the counts of one group as "name value, name value", in the report's order.
func countList(counts []jobs.Count, group jobs.CountGroup) string {
	var parts []string
	for _, c := range counts {
		if c.Group == group {
			parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.Value))
		}
	}
	return strings.Join(parts, ", ")
}

// reportHead is the first line: run, trigger, scope and dry run (empty for a bare report,
// such as the one `plan` prints).
func reportHead(r *jobs.Report) string {
	var parts []string
	if r.RunID != "" {
		parts = append(parts, "run "+r.RunID)
	}
	if r.Trigger != "" && r.Trigger != "plan" {
		parts = append(parts, "trigger "+r.Trigger)
	}
	if len(r.Spools) > 0 {
		parts = append(parts, "spools "+strings.Join(r.Spools, ","))
	}
	if r.DryRun && r.Trigger != "plan" {
		parts = append(parts, "dry run (nothing written)")
	}
	return strings.Join(parts, ", ")
}
