package worker

import (
	"fmt"
	"io"

	"reconciler/jobs"
)

// PrintReport writes a report for a person: counts first, then the problems.
func PrintReport(w io.Writer, r *jobs.Report) {
	fmt.Fprintf(w, "rows %d: candidate %d, free %d, too_old %d, invalid_tag %d, invalid_holder %d, invalid_date %d, duplicate_tag %d (warnings: missing_date %d, future_date %d)\n",
		r.Rows, r.Candidate, r.Free, r.TooOld, r.InvalidTag, r.InvalidHolder, r.InvalidDate, r.DuplicateTag, r.MissingDate, r.FutureDate)
	fmt.Fprintf(w, "locks: missing %d, enqueued %d, already_queued %d, already_locked %d, holder_mismatch %d, orphan_locks %d, orphans_deleted %d; sheets requests %d\n",
		r.Missing, r.Enqueued, r.AlreadyQueued, r.AlreadyLocked, r.HolderMismatch, r.OrphanLocks, r.OrphansDeleted, r.SheetsRequests)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  row %d  %-15s %-22q %s\n", p.Row, p.Class, p.Tag, p.Detail)
	}
	if more := r.ProblemsTotal - len(r.Problems); more > 0 {
		fmt.Fprintf(w, "  … and %d more problems\n", more)
	}
}
