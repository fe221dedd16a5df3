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
// is present; only the difference is written; a suspect judgement stamps judged_at only.
func TestAcceptedRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	a, err := e.store.Accepted(ctx)
	if err != nil || a.Present || len(a.Occupations) != 0 || !a.JudgedAt.IsZero() {
		t.Fatalf("before any acceptance: %+v, %v", a, err)
	}
	t0 := time.UnixMilli(1_700_000_000_000)
	if err := e.store.Accept(ctx, nil, nil, t0); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.store.Accepted(ctx); !a.Present || len(a.Occupations) != 0 || !a.JudgedAt.Equal(t0) {
		t.Fatalf("an empty sheet accepted: %+v", a)
	}
	// 2,500 occupations: several HSET chunks in one transaction.
	set := map[string]string{}
	for i := range 2500 {
		set[fmt.Sprintf("T-%04d", i)] = fmt.Sprintf("W(%d)", i+1)
	}
	if err := e.store.Accept(ctx, set, nil, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Accept(ctx, map[string]string{"T-0000": "ZZ(9)"}, []string{"T-0001", "T-0002"}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	a, err = e.store.Accepted(ctx)
	if err != nil || len(a.Occupations) != 2498 || a.Occupations["T-0000"] != "ZZ(9)" || a.Occupations["T-0003"] != "W(4)" {
		t.Fatalf("after the diff: %d occupations, T-0000 %q, %v", len(a.Occupations), a.Occupations["T-0000"], err)
	}
	if _, gone := a.Occupations["T-0001"]; gone {
		t.Fatal("T-0001 not removed")
	}
	if e.srv.MustDo("HGET", "reconciler:accepted", "T-0003") != "W(4)" {
		t.Fatal("occupations not at reconciler:accepted")
	}
	if err := e.store.Judged(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a, _ = e.store.Accepted(ctx)
	if !a.JudgedAt.Equal(t0.Add(time.Hour)) || len(a.Occupations) != 2498 {
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
