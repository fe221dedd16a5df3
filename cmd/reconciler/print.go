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
		fmt.Fprintf(w, "deferred: the Sheets read budget (SHEETS_MAX_READS_PER_MINUTE) was spent; nothing was read, one full reconcile is queued for %s\n",
			r.DeferredUntil.Format(time.RFC3339))
		return
	}
	fmt.Fprintf(w, "rows %d: candidate %d, free %d, too_old %d, invalid_tag %d, invalid_holder %d, invalid_date %d, duplicate_tag %d (warnings: missing_date %d, future_date %d)\n",
		r.Rows, r.Candidate, r.Free, r.TooOld, r.InvalidTag, r.InvalidHolder, r.InvalidDate, r.DuplicateTag, r.MissingDate, r.FutureDate)
	fmt.Fprintf(w, "locks: missing %d, enqueued %d, already_queued %d, already_locked %d, holder_mismatch %d, orphan_locks %d (past grace %d), orphans_released %d, retracted %d; sheets requests %d\n",
		r.Missing, r.Enqueued, r.AlreadyQueued, r.AlreadyLocked, r.HolderMismatch, r.OrphanLocks, r.OrphansPastGrace,
		r.OrphansReleased, r.Retracted, r.SheetsRequests)
	if r.DeletionsHeld > 0 {
		fmt.Fprintf(w, "safety valve: %s\n", r.HeldReason)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  row %d  %-15s %-22q %s\n", p.Row, p.Class, p.Tag, p.Detail)
	}
	if more := r.ProblemsTotal - len(r.Problems); more > 0 {
		fmt.Fprintf(w, "  … and %d more problems\n", more)
	}
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
