package redislock

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"reconciler/jobs"
)

// history reads every entry of tag, newest first.
func (e *env) history(t *testing.T, tag string) []jobs.HistoryEntry {
	t.Helper()
	h, err := e.store.History(ctxT(t), jobs.HistoryQuery{Tag: tag})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRestoreWritesHistoryInItsStep: the restore is one script call (one command on the wire),
// and that call leaves the lock and its `restored` entry, with the run and trigger; a refusal
// leaves a `refused` entry with its reason; already_locked writes nothing and records nothing.
func TestRestoreWritesHistoryInItsStep(t *testing.T) {
	e := newEnv(t, Options{})
	warm := request(e.redisNow(t))
	warm.Tag = "WARM" // loads the script, so the restore below is one EVALSHA
	mustRestore(t, e, warm)
	hook := &countingHook{}
	req := request(e.redisNow(t))
	req.RunID, req.Trigger = "run-1", jobs.TriggerBoot
	before := e.redisNow(t)
	e.client.AddHook(hook)
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeRestored)
	if hook.process != 1 || hook.pipelines != 0 {
		t.Fatalf("restore sent %d commands and %d pipelines, want one script call", hook.process, hook.pipelines)
	}
	h := e.history(t, tag)
	if len(h) != 1 {
		t.Fatalf("history %+v, want one entry", h)
	}
	got := h[0]
	lock := e.srv.MustDo("GET", "spool_lock:"+tag)
	if got.Action != jobs.ActionRestored || got.Value != lock || got.RunID != "run-1" || got.Trigger != "boot" || got.Detail != "" {
		t.Errorf("entry %+v, want restored %q by run-1 (boot)", got, lock)
	}
	if got.At.Before(before) || got.At.After(before.Add(5*time.Second)) {
		t.Errorf("entry time %v, want Redis's time (about %v)", got.At, before)
	}

	// already_locked: nothing written, nothing recorded.
	expectOutcome(t, mustRestore(t, e, req), jobs.OutcomeAlreadyLocked)
	if n := len(e.history(t, tag)); n != 1 {
		t.Errorf("already_locked added an entry: %d entries", n)
	}
	// holder_mismatch, recently_released, too_old and stale_snapshot are refusals with reasons.
	other := request(e.redisNow(t))
	other.WorkerID = 44
	other.RunID, other.Trigger = "run-2", jobs.TriggerManual
	expectOutcome(t, mustRestore(t, e, other), jobs.OutcomeHolderMismatch)
	e.srv.MustDo("DEL", "spool_lock:"+tag)
	if err := e.store.WriteTombstone(ctxT(t), tag); err != nil {
		t.Fatal(err)
	}
	expectOutcome(t, mustRestore(t, e, other), jobs.OutcomeRecentlyReleased)
	stale := other
	stale.SnapshotAt = e.redisNow(t).Add(-10 * time.Minute)
	expectOutcome(t, mustRestore(t, e, stale), jobs.OutcomeStaleSnapshot)
	old := other
	old.OccupiedAt = e.redisNow(t).Add(-25 * time.Hour)
	expectOutcome(t, mustRestore(t, e, old), jobs.OutcomeTooOld)
	h = e.history(t, tag)
	want := []string{"refused too_old", "refused stale_snapshot", "refused recently_released", "release_seen", "refused holder_mismatch", "restored"}
	if len(h) != len(want) {
		t.Fatalf("history %+v, want %v", h, want)
	}
	for i, w := range want {
		action, outcome, _ := strings.Cut(w, " ")
		if h[i].Action != action || !strings.HasPrefix(h[i].Detail, outcome) {
			t.Errorf("entry %d: %s %q, want %s", i, h[i].Action, h[i].Detail, w)
		}
	}
	if !strings.Contains(h[4].Detail, lock) || h[4].RunID != "run-2" || h[4].Trigger != "manual" {
		t.Errorf("holder_mismatch entry %+v, want the value held and run-2 (manual)", h[4])
	}
}

// TestRestoreBatchHistory: a batch records its restores in one grouped stream entry and each
// refusal in its own, in the same call; reading expands the group into one entry per spool.
func TestRestoreBatchHistory(t *testing.T) {
	e := newEnv(t, Options{})
	now := e.redisNow(t)
	var reqs []jobs.RestoreRequest
	for i := range 50 {
		r := request(now)
		r.Tag, r.RunID, r.Trigger = fmt.Sprintf("B-%02d", i), "run-b", jobs.TriggerRedisRestart
		reqs = append(reqs, r)
	}
	e.srv.MustDo("SET", "spool_lock:B-07", "1:x:01-01-2026 00:00:00")
	if _, err := e.store.RestoreBatch(ctxT(t), reqs); err != nil {
		t.Fatal(err)
	}
	all, err := e.store.History(ctxT(t), jobs.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 50 {
		t.Fatalf("%d entries, want 50", len(all))
	}
	if h := e.history(t, "B-07"); len(h) != 1 || h[0].Action != jobs.ActionRefused || h[0].Trigger != "redis-restart" {
		t.Errorf("B-07 history %+v, want one refusal", h)
	}
	if h := e.history(t, "B-49"); len(h) != 1 || h[0].Action != jobs.ActionRestored || h[0].RunID != "run-b" ||
		h[0].Value != e.srv.MustDo("GET", "spool_lock:B-49") {
		t.Errorf("B-49 history %+v, want restored by run-b with its value", h)
	}
	if n := e.srv.MustDo("XLEN", HistoryKey); n != "2" {
		t.Errorf("XLEN %s, want 2: one grouped entry for the 49 restores, one for the refusal", n)
	}
	if h := e.history(t, "B-4"); len(h) != 0 {
		t.Errorf("B-4 (a prefix of other tags) has entries: %+v", h)
	}
}

// TestDeleteLockHistory: the delete records the caller's action and reason in its step; a
// compare that fails records nothing.
func TestDeleteLockHistory(t *testing.T) {
	e := newEnv(t, Options{})
	const v = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48"
	e.srv.MustDo("SET", "spool_lock:"+tag, v)
	note := jobs.HistoryNote{RunID: "run-9", Trigger: jobs.TriggerOrphan, Detail: "free for 10m"}
	if ok, err := e.store.DeleteLock(ctxT(t), tag, "other", jobs.ActionReleased, note); err != nil || ok {
		t.Fatalf("changed value: %v %v", ok, err)
	}
	if ok, err := e.store.DeleteLock(ctxT(t), tag, v, jobs.ActionReleased, note); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	h := e.history(t, tag)
	if len(h) != 1 || h[0].Action != "released" || h[0].Value != v || h[0].RunID != "run-9" || h[0].Trigger != "orphan" || h[0].Detail != "free for 10m" {
		t.Errorf("history %+v, want one released entry", h)
	}
}

// TestHistoryCapped: past HISTORY_MAX the stream is trimmed (approximately: whole nodes of
// stream-node-max-entries, 100 by default), by scripts and Go appends alike.
func TestHistoryCapped(t *testing.T) {
	e := newEnv(t, Options{HistoryMax: 50})
	var entries []jobs.HistoryEntry
	for i := range 1000 {
		entries = append(entries, jobs.HistoryEntry{Tag: "T-" + strconv.Itoa(i), Action: jobs.ActionHeld})
	}
	if err := e.store.AppendHistory(ctxT(t), entries...); err != nil {
		t.Fatal(err)
	}
	now := e.redisNow(t)
	for i := range 300 {
		r := request(now)
		r.Tag = "R-" + strconv.Itoa(i)
		mustRestore(t, e, r)
	}
	n, err := strconv.Atoi(e.srv.MustDo("XLEN", HistoryKey))
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 || n > 50+100 {
		t.Errorf("XLEN %d after 1,300 appends, want HISTORY_MAX 50 (+ at most one node of 100)", n)
	}
	// The newest survive.
	if h := e.history(t, "R-299"); len(h) != 1 {
		t.Errorf("newest entry lost: %+v", h)
	}
}

// TestHistoryOff: HISTORY_MAX off writes no entry, the actions still happen.
func TestHistoryOff(t *testing.T) {
	e := newEnv(t, Options{HistoryMax: -1})
	expectOutcome(t, mustRestore(t, e, request(e.redisNow(t))), jobs.OutcomeRestored)
	if err := e.store.AppendHistory(ctxT(t), jobs.HistoryEntry{Tag: tag, Action: "held"}); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.MustDo("EXISTS", HistoryKey); got != "0" {
		t.Errorf("history written while off")
	}
}

// TestHistoryBrokenKey: a history key of another type loses entries, never the action.
func TestHistoryBrokenKey(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.MustDo("SET", HistoryKey, "not a stream")
	expectOutcome(t, mustRestore(t, e, request(e.redisNow(t))), jobs.OutcomeRestored)
}

// TestHistoryQuery: newest first, by tag, since, limit, across pages.
func TestHistoryQuery(t *testing.T) {
	e := newEnv(t, Options{})
	var entries []jobs.HistoryEntry
	for i := range 2500 {
		tg := "OTHER"
		if i%1000 == 0 {
			tg = "RARE"
		}
		entries = append(entries, jobs.HistoryEntry{Tag: tg, Action: "held", Detail: strconv.Itoa(i)})
	}
	if err := e.store.AppendHistory(ctxT(t), entries...); err != nil {
		t.Fatal(err)
	}
	rare := e.history(t, "RARE")
	if len(rare) != 3 || rare[0].Detail != "2000" || rare[2].Detail != "0" {
		t.Errorf("RARE %+v, want entries 2000, 1000, 0 (newest first, across pages)", rare)
	}
	last, err := e.store.History(ctxT(t), jobs.HistoryQuery{Limit: 20})
	if err != nil || len(last) != 20 || last[0].Detail != "2499" {
		t.Errorf("limit 20: %d entries, first %+v, err %v", len(last), last, err)
	}
	future, err := e.store.History(ctxT(t), jobs.HistoryQuery{Since: time.Now().Add(time.Hour)})
	if err != nil || len(future) != 0 {
		t.Errorf("since the future: %d entries, err %v", len(future), err)
	}
}

// TestSpoolState reads every part of a spool, writing nothing.
func TestSpoolState(t *testing.T) {
	e := newEnv(t, Options{Location: santiago(t)})
	empty, err := e.store.SpoolState(ctxT(t), tag)
	if err != nil || empty.Lock != nil || empty.Sighting != nil || empty.Tombstone != nil || empty.Marker != nil {
		t.Fatalf("empty spool: %+v, %v", empty, err)
	}
	const v = "93:0b7f5c62-1111-4222-8333-444455556666:13-05-2026 11:33:48"
	at := e.redisNow(t).Add(-time.Minute)
	e.srv.MustDo("SET", "spool_lock:"+tag, v, "PX", "60000")
	e.setMarker(t, RestoredKey, tag, at, v)
	e.setMarker(t, RestoredPreviousKey, tag, at.Add(-time.Second), "93:older")
	e.srv.MustDo("SET", TombstoneKey(tag), strconv.FormatInt(at.UnixMilli(), 10))
	e.srv.MustDo("HSET", OrphansKey, tag, encodeStamped(at, v))
	keys := e.srv.MustDo("DBSIZE")
	st, err := e.store.SpoolState(ctxT(t), tag)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lock == nil || st.Lock.Value != v || st.Lock.WorkerID != 93 || st.TTL <= 0 || st.TTL > time.Minute {
		t.Errorf("lock %+v ttl %v", st.Lock, st.TTL)
	}
	if st.Marker == nil || !st.Marker.At.Equal(at) || st.Marker.Value != v || st.Sighting == nil || st.Sighting.Value != v || st.Tombstone == nil || !st.Tombstone.Equal(at) {
		t.Errorf("bookkeeping %+v %+v %v", st.Marker, st.Sighting, st.Tombstone)
	}
	if e.srv.MustDo("DBSIZE") != keys {
		t.Error("SpoolState wrote a key")
	}
	e.srv.MustDo("DEL", "spool_lock:"+tag)
	e.srv.MustDo("HSET", "spool_lock:"+tag, "f", "v")
	if st, err := e.store.SpoolState(ctxT(t), tag); err != nil || st.Lock == nil || st.Lock.Value != "(a hash)" || st.TTL != -1 {
		t.Errorf("hash lock: %+v %v", st, err)
	}
}
