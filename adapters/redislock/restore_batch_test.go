package redislock

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"sort"
	"strconv"
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

// sharedCases are batch cases that keep request()'s snapshot, so the batch shares it (the
// layout a run's batch has), with a recent and a settled tombstone beside the other outcomes.
func sharedCases(now time.Time) []batchCase {
	var out []batchCase
	for _, c := range mixedCases(now) {
		switch c.name {
		case "STALE", "RELEASED", "SETTLED", "ORDER":
			continue // they edit the snapshot
		}
		out = append(out, c)
	}
	return append(out,
		batchCase{name: "FRESH-TOMB", setup: [][]string{{"SET", TombstoneKey("FRESH-TOMB"), formatMs(now.Add(-10 * time.Second)), "PX", "600000"}}, want: jobs.OutcomeRecentlyReleased},
		batchCase{name: "OLD-TOMB", setup: [][]string{{"SET", TombstoneKey("OLD-TOMB"), formatMs(now.Add(-10 * time.Minute)), "PX", "600000"}}, want: jobs.OutcomeRestored},
		batchCase{name: "MINE-TOMB", setup: [][]string{{"SET", "spool_lock:MINE-TOMB", "93:x:y"}, {"SET", TombstoneKey("MINE-TOMB"), "nope"}}, want: jobs.OutcomeAlreadyLocked},
	)
}

// cmdCalls is how many times Redis ran name (INFO commandstats), scripts' commands included.
func (e *env) cmdCalls(t *testing.T, name string) int {
	t.Helper()
	info := e.srv.MustDo("INFO", "commandstats")
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+name+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.Index(rest, ",")])
			return n
		}
	}
	return 0
}

// TestRestoreBatchSharedSnapshotAsSingles: batches whose locks share their snapshot (a run's
// batch: the checks that have one answer for the batch are made once) decide every lock as
// single restores do and leave the same keys: with tombstones and an aged-out lock among them
// (each lock checked on its own), with none (one EXISTS for the batch, then a SET NX a lock),
// and with a stale snapshot.
func TestRestoreBatchSharedSnapshotAsSingles(t *testing.T) {
	now := time.Now()
	all := sharedCases(now)
	var clear []batchCase
	for _, c := range all {
		if len(c.setup) == 0 || strings.HasPrefix(c.setup[0][1], "spool_lock:") && len(c.setup) == 1 {
			if c.name != "OLD" {
				clear = append(clear, c)
			}
		}
	}
	stale := append([]batchCase(nil), clear...)
	for i := range stale {
		c := stale[i]
		c.edit = func(r *jobs.RestoreRequest) { r.SnapshotAt = now.Add(-r.Staleness - time.Second) }
		if c.want == jobs.OutcomeRestored || c.want == jobs.OutcomeAlreadyLocked && c.name == "DUP" {
			c.want = jobs.OutcomeStaleSnapshot
		}
		stale[i] = c
	}
	for _, batch := range []struct {
		name    string
		cases   []batchCase
		perLock bool // whether each lock is checked on its own (an EXISTS per lock)
		calls   int  // script calls: 2 when a lock may be too old (its time is sent then)
	}{{"tombstones and an aged-out lock", all, true, 2}, {"clear", clear, false, 1}, {"stale", stale, true, 1}} {
		t.Run(batch.name, func(t *testing.T) {
			batchEnv, singleEnv := newEnv(t, Options{}), newEnv(t, Options{})
			var reqs []jobs.RestoreRequest
			for _, c := range batch.cases {
				for _, cmd := range c.setup {
					batchEnv.srv.MustDo(cmd...)
					singleEnv.srv.MustDo(cmd...)
				}
				reqs = append(reqs, c.request(now))
			}
			if err := restoreScript.Load(ctxT(t), batchEnv.client).Err(); err != nil {
				t.Fatal(err)
			}
			exists, calls := batchEnv.cmdCalls(t, "exists"), batchEnv.cmdCalls(t, "evalsha")
			got, err := batchEnv.store.RestoreBatch(ctxT(t), reqs)
			if err != nil {
				t.Fatal(err)
			}
			if n := batchEnv.cmdCalls(t, "exists") - exists; batch.perLock != (n > 1) {
				t.Errorf("%d EXISTS for %d locks; per lock: %v", n, len(reqs), batch.perLock)
			}
			if n := batchEnv.cmdCalls(t, "evalsha") - calls; n != batch.calls {
				t.Errorf("%d script calls, want %d", n, batch.calls)
			}
			for i, c := range batch.cases {
				single := mustRestore(t, singleEnv, reqs[i])
				if got[i] != c.want || single != c.want {
					t.Errorf("%s: batch %q, single %q, want %q", c.name, got[i], single, c.want)
				}
			}
			if b, s := batchEnv.keyspace(t), singleEnv.keyspace(t); !reflect.DeepEqual(b, s) {
				t.Fatalf("keys after the batch differ from keys after single restores:\nbatch  %v\nsingle %v", b, s)
			}
		})
	}
}

// TestRestoreBatchHistoryAsCollected: whether a batch's restored entry comes whole from Go (every
// lock restored) or is collected lock by lock (a refusal or a lock in place anywhere in the
// batch), its `spools` field is the restored locks' tag and value, in order.
func TestRestoreBatchHistoryAsCollected(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name  string
		taken []int // locks already held by another worker (refused) or by 93 (in place)
		mine  []int
	}{{"all restored", nil, nil}, {"first refused", []int{0}, nil}, {"middle refused", []int{4}, nil},
		{"last refused", []int{9}, nil}, {"in place", nil, []int{3}}, {"several", []int{2, 7}, []int{0, 5}}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			var reqs []jobs.RestoreRequest
			for i := range 10 {
				r := request(now)
				r.Tag, r.RunID = fmt.Sprintf("H-%d", i), "run-h"
				reqs = append(reqs, r)
			}
			for _, i := range c.taken {
				e.srv.MustDo("SET", "spool_lock:"+reqs[i].Tag, "6:x:y")
			}
			for _, i := range c.mine {
				e.srv.MustDo("SET", "spool_lock:"+reqs[i].Tag, "93:x:y")
			}
			out, err := e.store.RestoreBatch(ctxT(t), reqs)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, o := range out {
				if o == jobs.OutcomeRestored {
					want = append(want, reqs[i].Tag+"\x1f"+e.srv.MustDo("GET", "spool_lock:"+reqs[i].Tag))
				}
			}
			msgs, err := e.client.XRange(ctxT(t), HistoryKey, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var grouped []string
			refused := 0
			for _, m := range msgs {
				switch m.Values["action"] {
				case "restored":
					grouped = append(grouped, fmt.Sprint(m.Values["spools"]))
					if m.Values["run_id"] != "run-h" {
						t.Errorf("restored entry %v without the run", m.Values)
					}
				case "refused":
					refused++
				}
			}
			if len(grouped) != 1 || grouped[0] != strings.Join(want, "\x1e") {
				t.Fatalf("restored entries %q, want one with %q", grouped, strings.Join(want, "\x1e"))
			}
			if refused != len(c.taken) {
				t.Fatalf("%d refusals recorded, want %d", refused, len(c.taken))
			}
		})
	}
}

// TestRestoreBatchOfTheMaximum: a batch of MaxRestoreBatch locks fits the script's one EXISTS
// of every tombstone and its one HSET of every marker (Lua's unpack has a stack limit).
func TestRestoreBatchOfTheMaximum(t *testing.T) {
	e := newEnv(t, Options{})
	now := time.Now()
	reqs := make([]jobs.RestoreRequest, MaxRestoreBatch)
	for i := range reqs {
		reqs[i] = request(now)
		reqs[i].Tag = fmt.Sprintf("MAX-%04d", i)
	}
	out, err := e.store.RestoreBatch(ctxT(t), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o != jobs.OutcomeRestored {
			t.Fatalf("%s: %q", reqs[i].Tag, o)
		}
	}
	if n := e.srv.MustDo("HLEN", RestoredKey); n != strconv.Itoa(MaxRestoreBatch) {
		t.Fatalf("%s markers for %d restores", n, MaxRestoreBatch)
	}
	if h, err := e.store.History(ctxT(t), jobs.HistoryQuery{}); err != nil || len(h) != MaxRestoreBatch {
		t.Fatalf("%d history entries, %v", len(h), err)
	}
}

// Every outcome has a letter in restore.lua's answer, and no two share one.
func TestOutcomeCodesCoverEveryOutcome(t *testing.T) {
	seen := map[jobs.RestoreOutcome]bool{}
	for _, o := range outcomeCodes {
		seen[o] = true
	}
	if len(seen) != len(outcomeCodes) || len(seen) != len(jobs.RestoreOutcomes) {
		t.Fatalf("codes %v for outcomes %v", outcomeCodes, jobs.RestoreOutcomes)
	}
	src := restoreSource
	for c, o := range outcomeCodes {
		if !strings.Contains(src, string(o)+" = '"+string(c)+"'") {
			t.Errorf("restore.lua's CODES lack %s = '%c'", o, c)
		}
	}
}
