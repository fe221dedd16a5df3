package jobs

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"
)

// fakeTrust is the trust records in memory; it counts every write.
type fakeTrust struct {
	mu           sync.Mutex
	accepted     Accepted
	suspect      *SuspectState
	writes       map[string]int // method → calls
	lastAccepted map[string]string
}

func newFakeTrust(acc Accepted) *fakeTrust {
	return &fakeTrust{accepted: acc, writes: map[string]int{}}
}

func (f *fakeTrust) Accepted(context.Context) (Accepted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accepted
	a.Occupations = map[string]string{}
	for k, v := range f.accepted.Occupations {
		a.Occupations[k] = v
	}
	return a, nil
}

func (f *fakeTrust) Accept(_ context.Context, occupations map[string]string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes["Accept"]++
	f.lastAccepted = occupations
	f.accepted.Occupations = maps.Clone(occupations)
	f.accepted.Present, f.accepted.JudgedAt, f.accepted.Migrate = true, at, false
	return nil
}

func (f *fakeTrust) Judged(_ context.Context, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes["Judged"]++
	f.accepted.JudgedAt = at
	return nil
}

func (f *fakeTrust) SetSuspect(_ context.Context, s SuspectState) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes["SetSuspect"]++
	if f.suspect != nil {
		return false, nil
	}
	f.suspect = &s
	return true, nil
}

func (f *fakeTrust) ClearSuspect(context.Context) (SuspectState, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes["ClearSuspect"]++
	if f.suspect == nil {
		return SuspectState{}, false, nil
	}
	s := *f.suspect
	f.suspect = nil
	return s, true, nil
}

func (f *fakeTrust) Suspect(context.Context) (SuspectState, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.suspect == nil {
		return SuspectState{}, false, nil
	}
	return *f.suspect, true, nil
}

func (f *fakeTrust) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes[method]
}

// bookLocks is fakeLocks that counts the bookkeeping writes a suspect run must not make.
type bookLocks struct {
	*fakeLocks
	mu                              sync.Mutex
	deletes, updates, drops, counts int
}

func (l *bookLocks) DeleteLock(context.Context, string, string, string, HistoryNote) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deletes++
	return true, nil
}

func (l *bookLocks) UpdateOrphans(_ context.Context, record, forget map[string]OrphanSighting) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(record)+len(forget) > 0 {
		l.updates++
	}
	return nil
}

func (l *bookLocks) CountLocks(ctx context.Context) (int, error) {
	l.mu.Lock()
	l.counts++
	l.mu.Unlock()
	return l.fakeLocks.CountLocks(ctx)
}

// trustEnv: 10 spools held by W(1)..W(10) in the sheet, their locks in Redis (rows T-000..
// T-009), one more taken row without a lock (T-010), and the occupations accepted.
type trustRunEnv struct {
	r     *Reconciler
	sheet *fakeSheet
	locks *bookLocks
	trust *fakeTrust
	queue asynqQueue
	clock time.Time
}

func newTrustRunEnv(t *testing.T) *trustRunEnv {
	t.Helper()
	q, _ := newQueue(t)
	clock := time.Now().Truncate(time.Millisecond)
	at := clock.Add(-time.Hour)
	var rows []Row
	locks := map[string]Lock{}
	acc := map[string]string{}
	for i := range 11 {
		tag, holder := fmt.Sprintf("T-%03d", i), fmt.Sprintf("W(%d)", i+1)
		rows = append(rows, Row{Number: i + 2, Tag: tag, Holder: holder, DateState: DateValid, OccupiedAt: at})
		if i < 10 {
			locks[tag] = Lock{Value: fmt.Sprintf("%d:u:x", i+1), WorkerID: i + 1, At: at}
			acc[tag] = holder
		}
	}
	e := &trustRunEnv{
		sheet: &fakeSheet{rows: rows},
		locks: &bookLocks{fakeLocks: &fakeLocks{locks: locks}},
		trust: newFakeTrust(Accepted{Present: true, Occupations: acc, JudgedAt: clock.Add(-time.Minute)}),
		queue: q, clock: clock,
	}
	e.r = &Reconciler{Sheet: e.sheet, Locks: e.locks, Trust: e.trust, Runs: &fakeRuns{}, Queue: q, Rules: DefaultRules,
		Tasks: DefaultTasks, Log: quietLog(), Clock: fixedClock{clock}, OrphanGrace: time.Minute}
	return e
}

// sort moves every holder one row down (the holder column sorted alone).
func (e *trustRunEnv) sort() {
	e.sheet.mu.Lock()
	defer e.sheet.mu.Unlock()
	rows := append([]Row(nil), e.sheet.rows...)
	for i := range rows {
		rows[i].Holder = e.sheet.rows[(i+1)%len(rows)].Holder
	}
	e.sheet.rows = rows
}

func (e *trustRunEnv) pendingRestores(t *testing.T) int {
	t.Helper()
	infos, err := e.queue.inspector.ListPendingTasks(QueueRestore)
	if err != nil {
		return 0 // the queue does not exist yet: nothing was queued
	}
	return len(infos)
}

// TestSuspectRunWritesNothing: every kind of real run on a suspect snapshot queues no restore,
// deletes nothing and records no sighting; it records the suspect state (begun once) and
// stamps the judgement, and accepts nothing.
func TestSuspectRunWritesNothing(t *testing.T) {
	e := newTrustRunEnv(t)
	e.sort()
	for i, p := range []ReconcilePayload{
		{Trigger: TriggerSchedule}, {Trigger: TriggerBoot}, {Trigger: TriggerRedisBack},
		{Trigger: TriggerKeyspace, Spools: []string{"T-001"}}, {Trigger: TriggerVerify, Spools: []string{"T-002", "T-010"}},
		{Trigger: TriggerOrphan, Spools: []string{"T-003"}}, {Trigger: TriggerManual}, {Trigger: TriggerStaleRestore, Spools: []string{"T-010"}},
	} {
		rep, err := e.r.Run(ctxT(t), fmt.Sprintf("run-%d", i), p)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.SheetSuspect || rep.SuspectReason == "" || len(rep.SuspectExamples) == 0 || rep.Enqueued != 0 {
			t.Fatalf("%s: report %+v", p.Trigger, rep)
		}
	}
	if n := e.pendingRestores(t); n != 0 {
		t.Errorf("%d restores queued while suspect", n)
	}
	if e.locks.deletes+e.locks.updates != 0 {
		t.Errorf("%d deletions and %d sighting updates while suspect", e.locks.deletes, e.locks.updates)
	}
	if e.trust.count("Accept") != 0 || e.trust.count("SetSuspect") != 8 || e.trust.count("Judged") != 8 {
		t.Errorf("trust writes %v", e.trust.writes)
	}
	if _, ok, _ := e.trust.Suspect(ctxT(t)); !ok {
		t.Error("the suspect state was not recorded")
	}
}

// TestDryRunJudgesAndWritesNothing: a dry run reports the verdict and writes no trust record,
// suspect or sane.
func TestDryRunJudgesAndWritesNothing(t *testing.T) {
	e := newTrustRunEnv(t)
	e.sort()
	rep, err := e.r.Run(ctxT(t), "dry-1", ReconcilePayload{Trigger: TriggerManual, DryRun: true})
	if err != nil || !rep.SheetSuspect {
		t.Fatalf("suspect dry run: %+v, %v", rep, err)
	}
	e2 := newTrustRunEnv(t)
	rep, err = e2.r.Run(ctxT(t), "dry-2", ReconcilePayload{Trigger: TriggerManual, DryRun: true})
	if err != nil || rep.SheetSuspect || rep.Missing != 1 {
		t.Fatalf("sane dry run: %+v, %v", rep, err)
	}
	for _, f := range []*fakeTrust{e.trust, e2.trust} {
		if len(f.writes) != 0 {
			t.Errorf("a dry run wrote trust records: %v", f.writes)
		}
	}
}

// TestSaneRunAcceptsItsSnapshot: a sane real run whose occupations changed stores them, ends
// a suspect state, and acts (the missing lock is queued); the next run, with nothing changed,
// only stamps its judgement.
func TestSaneRunAcceptsItsSnapshot(t *testing.T) {
	e := newTrustRunEnv(t)
	if began, _ := e.trust.SetSuspect(ctxT(t), SuspectState{Since: e.clock.Add(-time.Hour), Reason: "earlier"}); !began {
		t.Fatal("setup")
	}
	rep, err := e.r.Run(ctxT(t), "run-1", ReconcilePayload{Trigger: TriggerSchedule})
	if err != nil || rep.SheetSuspect || rep.Enqueued != 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if e.trust.count("Accept") != 1 || len(e.trust.lastAccepted) != 11 || e.trust.lastAccepted["T-010"] != "W(11)" || e.trust.lastAccepted["T-000"] != "W(1)" {
		t.Errorf("accepted %v", e.trust.lastAccepted)
	}
	if _, ok, _ := e.trust.Suspect(ctxT(t)); ok {
		t.Error("the suspect state did not end")
	}
	if n := e.pendingRestores(t); n != 1 {
		t.Errorf("%d restores queued, want 1", n)
	}
	judged := e.trust.count("Judged")
	if _, err := e.r.Run(ctxT(t), "run-2", ReconcilePayload{Trigger: TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	if e.trust.count("Accept") != 1 || e.trust.count("Judged") != judged+1 {
		t.Errorf("an unchanged snapshot: Accept %d times, Judged %d times (want 1, %d)", e.trust.count("Accept"), e.trust.count("Judged"), judged+1)
	}
	e.sheet.mu.Lock()
	e.sheet.rows[3].Holder = "ZZ(4)"
	e.sheet.mu.Unlock()
	if _, err := e.r.Run(ctxT(t), "run-3", ReconcilePayload{Trigger: TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	if e.trust.count("Accept") != 2 || e.trust.lastAccepted["T-003"] != "ZZ(4)" {
		t.Errorf("one holder changed: Accept %d times, T-003 accepted as %q", e.trust.count("Accept"), e.trust.lastAccepted["T-003"])
	}
	// Unchanged, but read from an earlier version's form: stored whole (migrated).
	e.trust.mu.Lock()
	e.trust.accepted.Migrate = true
	e.trust.mu.Unlock()
	if _, err := e.r.Run(ctxT(t), "run-4", ReconcilePayload{Trigger: TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	if e.trust.count("Accept") != 3 || len(e.trust.lastAccepted) != 11 {
		t.Errorf("an unchanged snapshot to migrate: Accept %d times (want 3), %d occupations", e.trust.count("Accept"), len(e.trust.lastAccepted))
	}
}

// TestTargetedRunCountsLocksOnlyWhenItMatters: with nothing accepted and an empty sheet, a
// targeted run counts the lock keys (10 > a handful: suspect); with occupations it does not.
func TestTargetedRunCountsLocksOnlyWhenItMatters(t *testing.T) {
	e := newTrustRunEnv(t)
	e.trust.accepted = Accepted{}
	if _, err := e.r.Run(ctxT(t), "run-1", ReconcilePayload{Trigger: TriggerKeyspace, Spools: []string{"T-001"}}); err != nil {
		t.Fatal(err)
	}
	if e.locks.counts != 0 {
		t.Fatalf("counted the locks %d times beside a sheet with occupations", e.locks.counts)
	}
	e2 := newTrustRunEnv(t)
	e2.trust.accepted = Accepted{}
	e2.sheet.rows = nil
	rep, err := e2.r.Run(ctxT(t), "run-2", ReconcilePayload{Trigger: TriggerKeyspace, Spools: []string{"T-001"}})
	if err != nil || !rep.SheetSuspect || e2.locks.counts != 1 {
		t.Fatalf("empty sheet, nothing accepted: %+v, %v, counted %d", rep, err, e2.locks.counts)
	}
}
