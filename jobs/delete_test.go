package jobs

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// judgingLocks is fakeLocks with stored markers and sightings, recording deletions and swaps.
type judgingLocks struct {
	*fakeLocks
	markers   map[string]RestoreMarker
	sightings map[string]OrphanSighting
	mu        sync.Mutex
	deleted   []string
	replaced  map[string]RestoreRequest
}

func (l *judgingLocks) DeleteLock(_ context.Context, tag, value, _ string, _ HistoryNote) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks[tag].Value != value {
		return false, nil
	}
	delete(l.locks, tag)
	l.deleted = append(l.deleted, tag)
	return true, nil
}

func (l *judgingLocks) ReplaceLock(_ context.Context, old string, req RestoreRequest, _ HistoryNote) (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks[req.Tag].Value != old {
		return "", false, nil
	}
	v := "new:" + req.Tag
	l.locks[req.Tag] = Lock{Value: v, WorkerID: req.WorkerID, At: req.OccupiedAt}
	l.replaced[req.Tag] = req
	return v, true, nil
}

func (l *judgingLocks) Markers(_ context.Context, tags []string) (map[string]RestoreMarker, error) {
	out := map[string]RestoreMarker{}
	for _, t := range tags {
		if m, ok := l.markers[t]; ok {
			out[t] = m
		}
	}
	return out, nil
}

func (l *judgingLocks) OrphanSightings(context.Context, []string) (map[string]OrphanSighting, error) {
	return l.sightings, nil
}

// timedTriggers records Retrigger calls with their due times (zero: at once).
type timedTriggers struct {
	mu    sync.Mutex
	calls map[string]time.Time // "trigger:tag,tag" → at
}

func (r *timedTriggers) TriggerTags(ctx context.Context, trigger string, tags ...string) error {
	return r.TriggerTagsAt(ctx, trigger, time.Time{}, tags...)
}

func (r *timedTriggers) TriggerTagsAt(_ context.Context, trigger string, at time.Time, tags ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sorted := append([]string(nil), tags...)
	sort.Strings(sorted)
	r.calls[trigger+":"+strings.Join(sorted, ",")] = at
	return nil
}

// TestActOnDeletions: a run releases an orphan and another holder's leftover (the latter looked
// at at once, both again LookAfterRelease later), swaps a restored lock for the row's other
// occupation (verified RELEASE_SETTLE + 1 s later), and asks for a look when a lock's TTL ends.
func TestActOnDeletions(t *testing.T) {
	q, _ := newQueue(t)
	snap := time.Now().Truncate(time.Second)
	at := snap.Add(-time.Hour)
	grace, settle := 10*time.Minute, time.Minute
	rows := []Row{
		{Number: 2, Tag: "RETAKEN", Holder: "SB(95)", DateState: DateValid, OccupiedAt: at},
		{Number: 3, Tag: "FREED"},
		{Number: 4, Tag: "SWAP", Holder: "SB(95)", DateState: DateValid, OccupiedAt: at.Add(time.Minute)},
		{Number: 5, Tag: "STALLED", Holder: "MR(93)", DateState: DateValid, OccupiedAt: at},
	}
	locks := &judgingLocks{
		fakeLocks: &fakeLocks{locks: map[string]Lock{
			"RETAKEN": {Value: "93:r:x", WorkerID: 93, At: at},
			"FREED":   {Value: "93:f:x", WorkerID: 93, At: at},
			"SWAP":    {Value: "93:s:x", WorkerID: 93, At: at},
			"STALLED": {Value: "93:t:x", WorkerID: 93, At: at, TTL: 4500 * time.Millisecond},
		}},
		markers: map[string]RestoreMarker{"SWAP": {Value: "93:s:x", At: snap.Add(-2 * settle)}},
		sightings: map[string]OrphanSighting{
			"RETAKEN": {Value: "93:r:x", FirstSeen: snap.Add(-grace)},
			"FREED":   {Value: "93:f:x", FirstSeen: snap.Add(-2 * grace)},
		},
		replaced: map[string]RestoreRequest{},
	}
	trig := &timedTriggers{calls: map[string]time.Time{}}
	r := &Reconciler{Sheet: &fakeSheet{rows: rows}, Locks: locks, Runs: &fakeRuns{}, Queue: q, Rules: DefaultRules,
		Tasks: DefaultTasks, Log: quietLog(), Clock: fixedClock{snap}, Settle: settle, OrphanGrace: grace, Retrigger: trig}
	before := time.Now()
	rep, err := r.Run(ctxT(t), "run-1", ReconcilePayload{Trigger: TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(locks.deleted)
	if len(locks.deleted) != 2 || locks.deleted[0] != "FREED" || locks.deleted[1] != "RETAKEN" || rep.OrphansReleased != 2 {
		t.Fatalf("deleted %v, report %+v", locks.deleted, rep)
	}
	if req, ok := locks.replaced["SWAP"]; !ok || req.WorkerID != 95 || !req.OccupiedAt.Equal(at.Add(time.Minute)) || req.Settle != settle ||
		rep.Replaced != 1 || rep.Retracted != 0 {
		t.Fatalf("replaced %+v, report %+v", locks.replaced, rep)
	}
	if rep.ExpiringLocks != 1 {
		t.Fatalf("expiring_locks %d", rep.ExpiringLocks)
	}
	within := func(call string, from, to time.Duration) {
		t.Helper()
		got, ok := trig.calls[call]
		switch {
		case !ok:
			t.Errorf("no look %q; asked %v", call, trig.calls)
		case from == 0 && to == 0 && !got.IsZero():
			t.Errorf("look %q at %v, want at once", call, got)
		case (from != 0 || to != 0) && (got.Before(before.Add(from)) || got.After(time.Now().Add(to))):
			t.Errorf("look %q at %v, want %v to %v from now", call, got.Sub(before), from, to)
		}
	}
	within("orphan:RETAKEN", 0, 0)
	within("orphan:FREED,RETAKEN", LookAfterRelease, LookAfterRelease)
	within("verify:SWAP", settle+time.Second, settle+time.Second)
	within(TriggerExpiring+":STALLED", 5500*time.Millisecond, 6500*time.Millisecond) // TTL + 1 s, up to the next second
	if len(trig.calls) != 4 {
		t.Errorf("looks %v, want these four", trig.calls)
	}
}
