package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"reconciler/jobs"
)

// runPlan reads the sheet and Redis and says what a reconcile would do, writing nothing to
// Redis (not even to the read budget). Exit 0 in sync, 3 drift, 1 error, 2 usage.
func runPlan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var cf commonFlags
	asJSON := false
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	cf.register(fs, true, false)
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	s, err := loadSettings(cf.getenv(getenv), true)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	if s.Embedded {
		fmt.Fprintln(stderr, "reconciler plan: set REDIS_URL and SHEET_CSV (or GOOGLE_SHEET_ID): the embedded worker prints both")
		return exitError
	}
	silenceRedisLog()
	rdb, err := connectRedis(s.RedisURL, 4)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	defer rdb.Close()
	if err := reachRedis(ctx, rdb); err != nil {
		fmt.Fprintln(stderr, "reconciler plan:", err)
		return exitError
	}
	sheet, err := newSheet(ctx, s, nil)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return exitError
	}
	// The store is also the shared clock (Redis TIME): reading it writes nothing.
	store := newStore(rdb, s)
	r := &jobs.Reconciler{Sheet: sheet, Locks: store, Clock: store, Rules: s.Worker.Rules}
	ctx, cancel := context.WithTimeout(ctx, s.Worker.Tasks.ReconcileDeadline*3)
	defer cancel()
	plan, err := r.Plan(ctx, nil)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler plan:", err)
		return exitError
	}
	rep := &plan.Report
	rep.Trigger, rep.DryRun, rep.FinishedAt = "plan", true, rep.StartedAt
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(planOutput{Report: rep, Drift: rep.Drift(), Restores: restoreLines(plan.Restores)})
	} else {
		printPlan(stdout, rep, plan.Restores)
	}
	if rep.Drift() {
		return exitDrift
	}
	return exitOK
}

type planOutput struct {
	Report   *jobs.Report `json:"report"`
	Drift    bool         `json:"drift"`
	Restores []string     `json:"restores"`
}

func restoreLines(cs []jobs.Classified) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fmt.Sprintf("row %d %s %s", c.Number, c.Tag, c.Holder))
	}
	return out
}

func printPlan(w io.Writer, r *jobs.Report, restores []jobs.Classified) {
	PrintReport(w, r)
	for i, c := range restores {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more\n", len(restores)-20)
			break
		}
		fmt.Fprintf(w, "  would restore: row %d  %s  %s\n", c.Number, c.Tag, c.Holder)
	}
	if r.Drift() {
		fmt.Fprintf(w, "drift: %d missing, %d held by someone else\n", r.Missing, r.HolderMismatch)
	} else {
		fmt.Fprintln(w, "in sync")
	}
}
