package redislock

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"reconciler/jobs"
)

// TestAcceptedRoundTrip: nothing accepted at first; an accepted snapshot (even an empty one)
// is present; each acceptance replaces the occupations whole, in one value; a suspect
// judgement stamps judged_at only.
func TestAcceptedRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	a, err := e.store.Accepted(ctx)
	if err != nil || a.Present || len(a.Occupations) != 0 || !a.JudgedAt.IsZero() {
		t.Fatalf("before any acceptance: %+v, %v", a, err)
	}
	t0 := time.UnixMilli(1_700_000_000_000)
	if err := e.store.Accept(ctx, nil, t0); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.store.Accepted(ctx); !a.Present || len(a.Occupations) != 0 || !a.JudgedAt.Equal(t0) {
		t.Fatalf("an empty sheet accepted: %+v", a)
	}
	occ := map[string]string{}
	for i := range 2500 {
		occ[fmt.Sprintf("T-%04d", i)] = fmt.Sprintf("W(%d)", i+1)
	}
	if err := e.store.Accept(ctx, occ, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	next := map[string]string{"T-0000": "ZZ(9)", "T-0003": "W(4)"}
	if err := e.store.Accept(ctx, next, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Read by another process (no memory of what was written) and by the writer.
	for _, store := range []*Store{New(e.client, Options{}), e.store} {
		a, err = store.Accepted(ctx)
		if err != nil || !reflect.DeepEqual(a.Occupations, next) || !a.Present {
			t.Fatalf("after the second acceptance: %v, %v", a.Occupations, err)
		}
	}
	if e.srv.MustDo("TYPE", "reconciler:accepted_snapshot") != "string" || e.srv.MustDo("HGET", "reconciler:trust", "accepted_digest") == "" {
		t.Fatal("occupations not stored as one value with its digest")
	}
	if err := e.store.Judged(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a, _ = e.store.Accepted(ctx)
	if !a.JudgedAt.Equal(t0.Add(time.Hour)) || len(a.Occupations) != 2 {
		t.Fatalf("after Judged: %+v", a.JudgedAt)
	}
	if e.srv.MustDo("HGET", "reconciler:trust", "accepted_at") != fmt.Sprint(t0.Add(2*time.Second).UnixMilli()) {
		t.Fatal("Judged moved accepted_at")
	}
	// Judged alone (nothing ever accepted) does not make a snapshot accepted.
	e2 := newEnv(t, Options{})
	if err := e2.store.Judged(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if a, _ := e2.store.Accepted(ctx); a.Present {
		t.Fatal("a judgement without acceptance reads as accepted")
	}
}

// TestAcceptedIsReadOnlyWhenItChanged: a process reads the stored occupations only when their
// digest is not that of what it last read or wrote. Proven by changing the value behind the
// digest's back: the process that holds the digest keeps its memory; a process without it
// reads the value, finds it unreadable and counts nothing as accepted.
func TestAcceptedIsReadOnlyWhenItChanged(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	occ := map[string]string{"A": "MR(93)", "B": "SB(95)"}
	if err := e.store.Accept(ctx, occ, time.UnixMilli(1_700_000_000_000)); err != nil {
		t.Fatal(err)
	}
	e.srv.MustDo("SET", "reconciler:accepted_snapshot", "garbage")
	if a, err := e.store.Accepted(ctx); err != nil || !a.Present || !reflect.DeepEqual(a.Occupations, occ) {
		t.Fatalf("the writer read the value again: %+v, %v", a, err)
	}
	other := New(e.client, Options{})
	if a, err := other.Accepted(ctx); err != nil || a.Present || len(a.Occupations) != 0 {
		t.Fatalf("an unreadable value: %+v, %v (want nothing accepted)", a, err)
	}
	// Another writer's acceptance changes the digest: the first process reads it.
	newer := map[string]string{"C": "X(1)"}
	if err := other.Accept(ctx, newer, time.UnixMilli(1_700_000_060_000)); err != nil {
		t.Fatal(err)
	}
	if a, err := e.store.Accepted(ctx); err != nil || !reflect.DeepEqual(a.Occupations, newer) {
		t.Fatalf("after another process accepted: %v, %v", a.Occupations, err)
	}
	// A key of another type where the value should be: nothing accepted, no error.
	e.srv.MustDo("DEL", "reconciler:accepted_snapshot")
	e.srv.MustDo("HSET", "reconciler:trust", "accepted_digest", "x")
	e.srv.MustDo("RPUSH", "reconciler:accepted_snapshot", "x")
	if a, err := e.store.Accepted(ctx); err != nil || a.Present {
		t.Fatalf("a list where the value should be: %+v, %v", a, err)
	}
}

// TestAcceptedReadsTheEarlierHash: before any acceptance in the new form (an upgrade), the
// occupations are read from the hash earlier versions wrote; the first acceptance stores the
// value and gives the hash an hour to live.
func TestAcceptedReadsTheEarlierHash(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	e.srv.MustDo("HSET", "reconciler:accepted", "A", "MR(93)", "B", "SB(95)")
	e.srv.MustDo("HSET", "reconciler:trust", "accepted_at", "1700000000000", "judged_at", "1700000000000")
	a, err := e.store.Accepted(ctx)
	if err != nil || !a.Present || !a.Migrate || !reflect.DeepEqual(a.Occupations, map[string]string{"A": "MR(93)", "B": "SB(95)"}) {
		t.Fatalf("the earlier hash: %+v, %v (want present, to migrate)", a, err)
	}
	if err := e.store.Accept(ctx, map[string]string{"A": "MR(93)"}, time.UnixMilli(1_700_000_060_000)); err != nil {
		t.Fatal(err)
	}
	if ttl := e.srv.MustDo("TTL", "reconciler:accepted"); ttl == "-1" || ttl == "-2" {
		t.Fatalf("the earlier hash's TTL after an acceptance: %s", ttl)
	}
	if a, _ := New(e.client, Options{}).Accepted(ctx); len(a.Occupations) != 1 || a.Migrate {
		t.Fatalf("after the acceptance, the value is read, not the hash: %v, migrate %v", a.Occupations, a.Migrate)
	}
}

// TestOccupationsEncoding: any holder (separators, control characters, digits, empty)
// survives the stored form, and malformed values are errors, not panics.
func TestOccupationsEncoding(t *testing.T) {
	occ := map[string]string{"A": "MR(93)", "B:1": "1:2:3", "C": "", "D": "x\x00\x1e\x1f\n", "": "empty tag", "É": "Ñ(7)"}
	got, err := decodeOccupations(encodeOccupations(occ))
	if err != nil || !reflect.DeepEqual(got, occ) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if got, err := decodeOccupations(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"x", "1:A", "1:A9:MR", "-1:A0:", "a:A0:", "1:A1", ":A0:", "1234567890:A0:"} {
		if _, err := decodeOccupations(bad); err == nil {
			t.Errorf("decodeOccupations(%q) accepted a malformed value", bad)
		}
	}
}

// FuzzOccupations: decoding never panics, and what decodes encodes back to the same
// occupations.
//
//	go test -fuzz FuzzOccupations ./adapters/redislock/
func FuzzOccupations(f *testing.F) {
	f.Add(encodeOccupations(map[string]string{"A": "MR(93)", "B": "1:2"}))
	f.Add("1:A0:")
	f.Add("3:ABC")
	f.Fuzz(func(t *testing.T, s string) {
		occ, err := decodeOccupations(s)
		if err != nil {
			return
		}
		again, err := decodeOccupations(encodeOccupations(occ))
		if err != nil || !reflect.DeepEqual(again, occ) {
			t.Fatalf("%q: decoded %v, re-encoded and decoded %v, %v", s, occ, again, err)
		}
	})
}

// TestSuspectStateBeginsAndEndsOnce: of many processes recording and clearing the state at
// once, exactly one sees it begin and exactly one sees it end.
func TestSuspectStateBeginsAndEndsOnce(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	if _, ok, err := e.store.Suspect(ctx); ok || err != nil {
		t.Fatalf("suspect before any: %v, %v", ok, err)
	}
	since := time.UnixMilli(1_700_000_000_000).UTC()
	st := jobs.SuspectState{Since: since, Reason: "lost 60 of 60", Examples: []string{"A: was MR(93), now free"}}
	var began, ended atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := e.store.SetSuspect(ctx, st); err != nil {
				t.Error(err)
			} else if ok {
				began.Add(1)
			}
		}()
	}
	wg.Wait()
	got, ok, err := e.store.Suspect(ctx)
	if began.Load() != 1 || !ok || err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("began %d times; Suspect = %+v, %v, %v", began.Load(), got, ok, err)
	}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if old, ok, err := e.store.ClearSuspect(ctx); err != nil {
				t.Error(err)
			} else if ok {
				ended.Add(1)
				if !old.Since.Equal(since) {
					t.Errorf("ended state since %v, want %v", old.Since, since)
				}
			}
		}()
	}
	wg.Wait()
	if ended.Load() != 1 {
		t.Fatalf("ended %d times", ended.Load())
	}
	if _, ok, _ := e.store.Suspect(ctx); ok {
		t.Fatal("still suspect")
	}
	if e.srv.MustDo("EXISTS", "reconciler:sheet_suspect") != "0" {
		t.Fatal("reconciler:sheet_suspect left")
	}
}
