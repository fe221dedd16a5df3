package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// quietRedis drops go-redis's own log lines (dial failures while a test has killed Redis).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

func TestPrintReport(t *testing.T) {
	rep := &jobs.Report{
		RunID: "run-1", Trigger: jobs.TriggerManual, Rows: 10, Candidate: 4, Free: 5, InvalidHolder: 1,
		Missing: 2, Enqueued: 2, AlreadyLocked: 1, HolderMismatch: 1, SheetsRequests: 1,
		Problems:      []jobs.Problem{{Row: 7, Tag: "T-7", Class: "invalid_holder", Detail: `Ocupado_Por "x" does not end with (ID)`}},
		ProblemsTotal: 3,
	}
	var b strings.Builder
	PrintReport(&b, rep)
	out := b.String()
	for _, want := range []string{
		"run run-1, trigger manual\n",
		"\nrows 10: candidate 4, free 5, too_old 0, invalid_tag 0, invalid_holder 1, invalid_date 0, duplicate_tag 0 (warnings: missing_date 0, future_date 0)\n",
		"\nlocks: missing 2, enqueued 2, already_queued 0, already_locked 1, holder_mismatch 1, orphan_locks 0, orphans_past_grace 0, orphans_released 0, expiring_locks 0, retractions_due 0, retracted 0, replaced 0; sheets requests 1\n",
		`row 7  invalid_holder  "T-7"`,
		"… and 2 more problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	PrintReport(&b, &jobs.Report{RunID: "r", Trigger: jobs.TriggerKeyspace, Spools: []string{"A", "B"}, DryRun: true})
	if first := strings.SplitN(b.String(), "\n", 2)[0]; first != "run r, trigger keyspace, spools A,B, dry run (nothing written)" {
		t.Errorf("head line %q", first)
	}

	// plan's report has no run: it starts with the counts, as before.
	b.Reset()
	PrintReport(&b, &jobs.Report{Trigger: "plan", DryRun: true})
	if !strings.HasPrefix(b.String(), "rows 0:") {
		t.Errorf("plan report starts with %q", b.String())
	}

	// A deferred run read nothing: it must not print zero counts that look like "in sync".
	b.Reset()
	at := time.Date(2026, 5, 13, 12, 1, 0, 0, time.UTC)
	PrintReport(&b, &jobs.Report{RunID: "d", Trigger: jobs.TriggerManual, DeferredUntil: &at})
	if out := b.String(); !strings.Contains(out, "deferred") || !strings.Contains(out, "2026-05-13T12:01:00Z") || strings.Contains(out, "missing 0") {
		t.Errorf("deferred report:\n%s", out)
	}

	// A suspect snapshot says so, why, and what it lost.
	b.Reset()
	PrintReport(&b, &jobs.Report{RunID: "s", Trigger: jobs.TriggerSchedule, SheetSuspect: true,
		SuspectReason: "the sheet lost 9 of the 10 accepted occupations at once", SuspectExamples: []string{"A: was MR(93), now free"}})
	if out := b.String(); !strings.Contains(out, "sheet suspect: the sheet lost 9 of the 10") || !strings.Contains(out, "accept-sheet") ||
		!strings.Contains(out, "  lost: A: was MR(93), now free\n") {
		t.Errorf("suspect report:\n%s", out)
	}

	b.Reset()
	PrintReport(&b, nil)
	if b.String() != "no report\n" {
		t.Errorf("nil report: %q", b.String())
	}
}
