package jobs

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func runRestore(t *testing.T, r *Restorer, p RestorePayload) {
	t.Helper()
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ProcessTask(ctxT(t), asynq.NewTask(TypeRestore, body)); err != nil {
		t.Fatal(err)
	}
}

// TestRestorerLooksAgainOnceAtStaleRestores: a restore refused as stale_snapshot asks for one
// fresh look at its spool; a restore planned by such a look does not ask again, and other
// outcomes never ask.
func TestRestorerLooksAgainOnceAtStaleRestores(t *testing.T) {
	locks := &fakeLocks{outcome: OutcomeStaleSnapshot}
	looks := &triggers{}
	r := &Restorer{Locks: locks, Runs: &fakeRuns{}, Rules: DefaultRules, Staleness: time.Minute,
		Settle: time.Minute, Log: quietLog(), Retrigger: looks}
	p := RestorePayload{Tag: "A", Holder: "MR(93)", WorkerID: 93, OccupiedAt: time.Now().Add(-time.Hour),
		SnapshotAt: time.Now().Add(-2 * time.Minute), Trigger: TriggerSchedule, RunID: "run"}

	runRestore(t, r, p)
	if len(looks.calls) != 1 || looks.calls[0] != TriggerStaleRestore+":A" {
		t.Fatalf("looks after a stale restore: %v, want one stale-restore look at A", looks.calls)
	}
	// The look's own restore is stale again: no further look.
	p.Trigger = TriggerStaleRestore
	runRestore(t, r, p)
	if len(looks.calls) != 1 {
		t.Fatalf("a stale restore planned by a fresh look asked again: %v", looks.calls)
	}
	// A restored lock asks for its verifying look and a recently released one for a look
	// after the release window; the other outcomes never ask.
	p.Trigger = TriggerSchedule
	for _, out := range []RestoreOutcome{OutcomeRestored, OutcomeRecentlyReleased, OutcomeHolderMismatch, OutcomeTooOld, OutcomeAlreadyLocked} {
		locks.outcome = out
		runRestore(t, r, p)
	}
	if want := []string{TriggerStaleRestore + ":A", TriggerVerify + ":A", TriggerKeyspace + ":A"}; !slices.Equal(looks.calls, want) {
		t.Fatalf("looks = %v, want %v", looks.calls, want)
	}
	// Without a Retrigger the stale restore just waits for the next reconcile.
	r.Retrigger, locks.outcome = nil, OutcomeStaleSnapshot
	runRestore(t, r, p)

	// The request carries the payload and the settings, and no time of this process.
	req := locks.requests[0]
	if req.Tag != "A" || req.WorkerID != 93 || !req.SnapshotAt.Equal(p.SnapshotAt) || req.Settle != time.Minute ||
		req.Staleness != time.Minute || req.RunID != "run" {
		t.Fatalf("restore request %+v", req)
	}
	if err := r.ProcessTask(ctxT(t), asynq.NewTask(TypeRestore, []byte("nope"))); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("unreadable payload: %v, want SkipRetry", err)
	}
}
