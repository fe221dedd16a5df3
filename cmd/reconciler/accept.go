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

// runAcceptSheet shows what the current sheet would make the worker write and delete, and with
// --yes makes it the accepted snapshot and ends the suspect state (docs/design.md, "Trusting a
// snapshot"). It queues nothing: the next run acts. Without --yes it writes nothing. Exit 0
// done (or shown), 1 error, 2 usage.
func runAcceptSheet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf commonFlags
	yes, asJSON := false, false
	fs := flag.NewFlagSet("accept-sheet", flag.ContinueOnError)
	cf.register(fs, true, false)
	fs.BoolVar(&yes, "yes", false, "store the current sheet as the accepted snapshot (without it, only show)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	v, code := planReadOnly(ctx, cf, getenv, "accept-sheet", stderr)
	if code != exitOK {
		return code
	}
	defer v.rdb.Close()
	s, plan := v.s, v.plan
	out := acceptOutput{
		SheetSuspect: plan.Trust.Suspect, Reason: plan.Trust.Reason, Baseline: plan.Trust.Baseline,
		Lost: plan.Trust.Lost, LostExamples: nonNil(plan.Trust.Examples), Occupations: plan.Report.Candidate,
		Restores: restoreLines(plan.Restores), Retractions: retractionLines(plan.Judgement.Retract),
		Orphans: orphanLines(plan.Orphans, s.Worker.OrphanGrace),
	}
	out.SuspectRecorded = v.recorded
	if yes {
		plan.Report.Trigger = "accept-sheet"
		ctx, cancel := context.WithTimeout(ctx, s.Worker.Tasks.ReconcileDeadline)
		defer cancel()
		if err := v.r.AcceptSnapshot(ctx, &plan); err != nil {
			fmt.Fprintln(stderr, "reconciler accept-sheet:", err)
			return exitError
		}
		out.Accepted = true
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		printAccept(stdout, out, plan.Orphans, s.Worker.OrphanGrace)
	}
	return exitOK
}

// acceptOutput is what `accept-sheet --json` prints.
type acceptOutput struct {
	// SheetSuspect, Reason and Baseline are the current sheet's verdict; Lost the accepted
	// occupations it lost (LostExamples quotes some).
	SheetSuspect    bool               `json:"sheet_suspect"`
	Reason          string             `json:"reason"`
	Baseline        string             `json:"baseline"`
	Lost            int                `json:"lost"`
	LostExamples    []string           `json:"lost_examples"`
	SuspectRecorded *jobs.SuspectState `json:"suspect_recorded"`
	// Occupations counts the sheet's restorable rows (candidates).
	Occupations int `json:"occupations"`
	// What the next run would do once the sheet is accepted.
	Restores    []string     `json:"restores"`
	Retractions []string     `json:"retractions"`
	Orphans     []orphanLine `json:"orphans"`
	// Accepted says this call stored the sheet as the accepted snapshot (--yes).
	Accepted bool `json:"accepted"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printAccept(w io.Writer, o acceptOutput, orphans []jobs.Orphan, grace time.Duration) {
	switch {
	case o.SheetSuspect:
		fmt.Fprintf(w, "the current sheet is suspect: %s\n", o.Reason)
	case o.Baseline == "none":
		fmt.Fprintln(w, "the current sheet is sane (nothing accepted to compare it with)")
	default:
		fmt.Fprintf(w, "the current sheet is sane: it lost %d accepted occupations\n", o.Lost)
	}
	if o.SuspectRecorded != nil {
		fmt.Fprintf(w, "workers: sheet suspect since %s: nothing is written\n", o.SuspectRecorded.Since.Format(time.RFC3339))
	}
	if o.Lost > 0 {
		fmt.Fprintf(w, "lost occupations (%d, compared with the accepted snapshot):\n", o.Lost)
		for _, e := range o.LostExamples {
			fmt.Fprintf(w, "  %s\n", e)
		}
		if more := o.Lost - len(o.LostExamples); more > 0 {
			fmt.Fprintf(w, "  … and %d more\n", more)
		}
	}
	fmt.Fprintf(w, "once accepted, the worker would restore %d missing locks, retract %d restored locks and release %d orphan locks (after ORPHAN_GRACE %s unbacked):\n",
		len(o.Restores), len(o.Retractions), len(o.Orphans), graceText(grace))
	for i, l := range o.Restores {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more restores\n", len(o.Restores)-20)
			break
		}
		fmt.Fprintf(w, "  would restore: %s\n", l)
	}
	for _, l := range o.Retractions {
		fmt.Fprintf(w, "  would retract: %s\n", l)
	}
	printOrphans(w, orphans, grace)
	if o.Accepted {
		fmt.Fprintln(w, "accepted: the current sheet is now the accepted snapshot; the next run acts on it")
		return
	}
	fmt.Fprintln(w, "nothing written. To make the current sheet the accepted snapshot: reconciler accept-sheet --yes")
}

func graceText(grace time.Duration) string {
	if grace <= 0 {
		return "off: never"
	}
	return grace.String()
}
