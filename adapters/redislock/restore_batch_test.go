package redislock

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"reconciler/jobs"
)

// batchCase is one lock of the mixed batch: the state its keys start in, its request and the
// outcome a single restore gives it.
type batchCase struct {
	name  string
	setup [][]string // commands run before the batch
	edit  func(*jobs.RestoreRequest)
	want  jobs.RestoreOutcome
}

// mixedCases has every outcome of the restore table, and the decision-order and duplicate cases,
// each on its own tag (the duplicate shares one on purpose).
func mixedCases(now time.Time) []batchCase {
	// now is the test's clock; the script reads Redis TIME a few milliseconds later, so no case
	// sits on a boundary to the millisecond: each is a second or more inside or outside it.
	released := now.Add(-80 * time.Second)
	return []batchCase{
		{name: "ABSENT", want: jobs.OutcomeRestored},
		{name: "MINE", setup: [][]string{{"SET", "spool_lock:MINE", "93:x:y"}}, want: jobs.OutcomeAlreadyLocked},
		{name: "OTHER", setup: [][]string{{"SET", "spool_lock:OTHER", "6:x:y", "EX", "100"}}, want: jobs.OutcomeHolderMismatch},
		{name: "HASH", setup: [][]string{{"HSET", "spool_lock:HASH", "a", "1"}}, want: jobs.OutcomeHolderMismatch},
		{name: "OLD", edit: func(r *jobs.RestoreRequest) { r.OccupiedAt = now.Add(-r.MaxAge - time.Second) }, want: jobs.OutcomeTooOld},
		{name: "NEAR-MAX-AGE", edit: func(r *jobs.RestoreRequest) { r.OccupiedAt = now.Add(-r.MaxAge + 10*time.Second) }, want: jobs.OutcomeRestored},
		{name: "STALE", edit: func(r *jobs.RestoreRequest) { r.SnapshotAt = now.Add(-r.Staleness - time.Second) }, want: jobs.OutcomeStaleSnapshot},
		{name: "RELEASED", setup: [][]string{{"SET", TombstoneKey("RELEASED"), formatMs(released), "PX", "600000"}},
			edit: func(r *jobs.RestoreRequest) { r.SnapshotAt = released.Add(30 * time.Second) }, want: jobs.OutcomeRecentlyReleased},
		{name: "SETTLED", setup: [][]string{{"SET", TombstoneKey("SETTLED"), formatMs(released), "PX", "600000"}},
			edit: func(r *jobs.RestoreRequest) { r.SnapshotAt = now.Add(-5 * time.Second) }, want: jobs.OutcomeRestored},
		{name: "GARBAGE-TOMB", setup: [][]string{{"SET", TombstoneKey("GARBAGE-TOMB"), "nope"}}, want: jobs.OutcomeRecentlyReleased},
		{name: "ORDER", setup: [][]string{{"SET", TombstoneKey("ORDER"), "nope"}}, edit: func(r *jobs.RestoreRequest) {
			r.OccupiedAt, r.SnapshotAt = now.Add(-48*time.Hour), now.Add(-time.Hour)
		}, want: jobs.OutcomeTooOld},
		{name: "DUP", want: jobs.OutcomeRestored},
		{name: "DUP", want: jobs.OutcomeAlreadyLocked}, // the same spool twice: the second sees the first
	}
}

func (c batchCase) request(now time.Time) jobs.RestoreRequest {
	req := request(now)
	req.Tag, req.RunID = c.name, "run-mixed"
	if c.edit != nil {
		c.edit(&req)
	}
	return req
}

// keyspace is every key of e with its type, value (lock uuids masked) and whether it has a TTL.
func (e *env) keyspace(t *testing.T) map[string]string {
	t.Helper()
	ctx := ctxT(t)
	keys, err := e.client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	uuidRe := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	// A tombstone the script rewrites holds Redis TIME, which differs between two servers by
	// the milliseconds between the calls: unix-ms values are masked too.
	msRe := regexp.MustCompile(`^[0-9]{13}\b`) // a tombstone, or the time before a marker's "|"
	out := map[string]string{}
	for _, k := range keys {
		kind := e.client.Type(ctx, k).Val()
		var v string
		switch kind {
		case "string":
			v = msRe.ReplaceAllString(uuidRe.ReplaceAllString(e.client.Get(ctx, k).Val(), "UUID"), "MS")
		case "hash": // the restore markers hold "{ms}|{value}" too
			fields := e.client.HGetAll(ctx, k).Val()
			for f, fv := range fields {
				fields[f] = msRe.ReplaceAllString(uuidRe.ReplaceAllString(fv, "UUID"), "MS")
			}
			v = fmt.Sprint(fields)
		}
		out[k] = fmt.Sprintf("%s %s ttl=%v", kind, v, e.client.PTTL(ctx, k).Val() > 0)
	}
	return out
}

// Every outcome of the restore table in one batch: each lock is decided as a single restore
// would decide it, and the batch leaves the same keys (locks, tombstones, tally) as the single
// restores run one after the other on an identical Redis.
func TestRestoreBatchMixedOutcomesAsSingles(t *testing.T) {
	now := time.Now()
	cases := mixedCases(now)
	batchEnv, singleEnv := newEnv(t, Options{}), newEnv(t, Options{})
	var reqs []jobs.RestoreRequest
	for _, c := range cases {
		for _, cmd := range c.setup {
			batchEnv.srv.MustDo(cmd...)
			singleEnv.srv.MustDo(cmd...)
		}
		reqs = append(reqs, c.request(now))
	}

	got, err := batchEnv.store.RestoreBatch(ctxT(t), reqs)
	if err != nil {
		t.Fatalf("RestoreBatch: %v", err)
	}
	if len(got) != len(cases) {
		t.Fatalf("%d outcomes for %d locks", len(got), len(cases))
	}
	for i, c := range cases {
		single := mustRestore(t, singleEnv, reqs[i])
		if got[i] != c.want || single != c.want {
			t.Errorf("%s: batch %q, single %q, want %q", c.name, got[i], single, c.want)
		}
	}
	if b, s := batchEnv.keyspace(t), singleEnv.keyspace(t); !reflect.DeepEqual(b, s) {
		t.Fatalf("keys after the batch differ from keys after single restores:\nbatch  %v\nsingle %v", b, s)
	}
	tally, err := batchEnv.store.Tally(ctxT(t), "run-mixed")
	want := map[string]int64{"restored": 4, "already_locked": 2, "holder_mismatch": 2, "too_old": 2,
		"stale_snapshot": 1, "recently_released": 2}
	if err != nil || !reflect.DeepEqual(tally, want) {
		t.Fatalf("tally = %v, %v; want one count per lock %v", tally, err, want)
	}
	if v := batchEnv.srv.MustDo("GET", "spool_lock:OTHER"); v != "6:x:y" || batchEnv.pttl(t, "spool_lock:OTHER") <= 0 {
		t.Fatalf("another holder's lock was touched: %q, PTTL %d", v, batchEnv.pttl(t, "spool_lock:OTHER"))
	}
}

// 100 goroutines restore overlapping batches of the same spools at once: every lock is written
// exactly once, whichever batch gets to it first, and the others see it as already locked.
func TestRestoreBatchOverlappingExactlyOnce(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	const spools, goroutines, size = 300, 100, 120
	tags := make([]string, spools)
	for i := range tags {
		tags[i] = fmt.Sprintf("SP-%03d", i)
	}
	results := make([]map[string]jobs.RestoreOutcome, goroutines)
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		// a window of the spools, shuffled, so batches overlap in different orders
		first := (g * 7) % (spools - size)
		batch := append([]string(nil), tags[first:first+size]...)
		rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		wg.Go(func() {
			reqs := make([]jobs.RestoreRequest, len(batch))
			for i, tg := range batch {
				reqs[i] = request(now)
				reqs[i].Tag, reqs[i].RunID = tg, "run-overlap"
			}
			<-start
			out, err := e.store.RestoreBatch(ctxT(t), reqs)
			errs[g] = err
			results[g] = map[string]jobs.RestoreOutcome{}
			for i, o := range out {
				results[g][batch[i]] = o
			}
		})
	}
	close(start)
	wg.Wait()
	restored := map[string]int{}
	covered := map[string]bool{}
	for g := range goroutines {
		if errs[g] != nil {
			t.Fatalf("batch %d: %v", g, errs[g])
		}
		for tg, o := range results[g] {
			covered[tg] = true
			switch o {
			case jobs.OutcomeRestored:
				restored[tg]++
			case jobs.OutcomeAlreadyLocked:
			default:
				t.Fatalf("batch %d: %s answered %q", g, tg, o)
			}
		}
	}
	for tg := range covered {
		if restored[tg] != 1 {
			t.Errorf("%s restored %d times, want exactly once", tg, restored[tg])
		}
	}
	keys := strings.Fields(e.srv.MustDo("KEYS", "spool_lock:*"))
	sort.Strings(keys)
	if len(keys) != len(covered) {
		t.Fatalf("%d lock keys for %d spools covered", len(keys), len(covered))
	}
	tally, err := e.store.Tally(ctxT(t), "run-overlap")
	if err != nil || tally["restored"] != int64(len(covered)) || tally["already_locked"] != int64(goroutines*size-len(covered)) {
		t.Fatalf("tally %v, %v: want %d restored, %d already_locked", tally, err, len(covered), goroutines*size-len(covered))
	}
}

func TestRestoreBatchRejectsBadBatches(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	ok := request(now)
	otherRun := request(now)
	otherRun.Tag, otherRun.RunID = "B", "another-run"
	bad := request(now)
	bad.Tag, bad.WorkerID = "BAD", 0
	tooMany := make([]jobs.RestoreRequest, MaxRestoreBatch+1)
	for i := range tooMany {
		tooMany[i] = request(now)
	}
	for name, c := range map[string]struct {
		reqs []jobs.RestoreRequest
		want string
	}{
		"empty":           {nil, "no locks"},
		"two runs":        {[]jobs.RestoreRequest{ok, otherRun}, `"B": max age`},
		"bad lock":        {[]jobs.RestoreRequest{ok, bad}, `"BAD": worker id 0`},
		"more than a max": {tooMany, "more than 1000"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.store.RestoreBatch(ctxT(t), c.reqs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if keys := e.srv.MustDo("KEYS", "*"); keys != "" {
		t.Fatalf("a rejected batch wrote %q", keys)
	}
}
