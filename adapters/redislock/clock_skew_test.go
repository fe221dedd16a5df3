package redislock

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/jobs"
)

// skewedSheet is a sheet reader on a process whose clock is off: its rows are fixed, and it
// stamps ReadAt with that clock, as the real readers stamp theirs with time.Now.
type skewedSheet struct {
	rows []jobs.Row
	now  func() time.Time
}

func (s skewedSheet) Read(context.Context) (jobs.Snapshot, error) {
	return jobs.Snapshot{Rows: s.rows, ReadAt: s.now(), Requests: 1}, nil
}

// outcomes records what the Restorer decided.
type outcomes struct {
	mu  sync.Mutex
	got []jobs.RestoreOutcome
}

func (o *outcomes) RunFinished(string, string, time.Duration, *jobs.Report) {}
func (o *outcomes) RestoreFinished(out jobs.RestoreOutcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, out)
}

// TestClockSkewStillRefusesInsideSettle: a worker whose process clock is a minute off (either
// way) plans and restores on Redis's clock, so it still refuses a restore inside the settle
// window of a release stamped by any replica, and measures ages and staleness right.
func TestClockSkewStillRefusesInsideSettle(t *testing.T) {
	for _, skew := range []time.Duration{time.Minute, -time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			e := newEnv(t, Options{})
			processNow := func() time.Time { return time.Now().Add(skew) }
			// Released just now: the watcher's script stamps it with Redis TIME.
			if err := e.store.WriteTombstone(ctxT(t), "RELEASED"); err != nil {
				t.Fatal(err)
			}
			real := time.Now()
			sheet := skewedSheet{now: processNow, rows: []jobs.Row{
				{Number: 2, Tag: "RELEASED", Holder: "MR(93)", DateState: jobs.DateValid, OccupiedAt: real.Add(-time.Hour)},
				// 30 s inside MAX_LOCK_AGE by the real clock: a minute-fast clock would call it too old.
				{Number: 3, Tag: "NEAR_AGE", Holder: "MR(93)", DateState: jobs.DateValid, OccupiedAt: real.Add(-24*time.Hour + 30*time.Second)},
			}}
			r := &jobs.Reconciler{Sheet: sheet, Locks: e.store, Clock: e.store, Rules: jobs.DefaultRules, Now: processNow}
			before := e.redisNow(t)
			plan, err := r.Plan(ctxT(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			after := e.redisNow(t).Add(time.Millisecond)
			if at := plan.Report.SnapshotAt; at.Before(before) || at.After(after) {
				t.Fatalf("snapshot_at %v is not Redis's time [%v, %v] (process clock %v)", at, before, after, processNow())
			}
			if len(plan.Restores) != 2 {
				t.Fatalf("restores planned: %+v, want RELEASED and NEAR_AGE (too_old %d)", plan.Restores, plan.Report.TooOld)
			}

			seen := &outcomes{}
			restorer := &jobs.Restorer{Locks: e.store, Runs: e.store, Rules: jobs.DefaultRules,
				Staleness: 60 * time.Second, Settle: 60 * time.Second, Observer: seen}
			for _, c := range plan.Restores {
				body, err := json.Marshal(jobs.RestorePayload{Tag: c.Tag, Holder: c.Holder, WorkerID: c.WorkerID,
					OccupiedAt: c.OccupiedAt, SnapshotAt: plan.Report.SnapshotAt, Row: c.Number})
				if err != nil {
					t.Fatal(err)
				}
				if err := restorer.ProcessTask(ctxT(t), asynq.NewTask(jobs.TypeRestore, body)); err != nil {
					t.Fatal(err)
				}
			}
			want := []jobs.RestoreOutcome{jobs.OutcomeRecentlyReleased, jobs.OutcomeRestored}
			if len(seen.got) != 2 || seen.got[0] != want[0] || seen.got[1] != want[1] {
				t.Fatalf("outcomes %v, want %v", seen.got, want)
			}
			if e.exists(t, "spool_lock:RELEASED") {
				t.Fatal("a restore inside the settle window wrote the released lock")
			}
		})
	}
}
