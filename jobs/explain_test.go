package jobs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// explainCase builds an ExplainInput around one sheet and one Redis state.
type explainCase struct {
	rows    []Row
	state   SpoolState
	suspect bool
}

var (
	exNow    = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	exSettle = 60 * time.Second
	exGrace  = 10 * time.Minute
)

func (c explainCase) explain(t *testing.T) Explanation {
	t.Helper()
	return ExplainSpool(ExplainInput{
		Tag: "MK-1", Rows: RowsOfTag(c.rows, " MK-1 ", exNow, DefaultRules), Rules: DefaultRules, State: c.state,
		Suspect: c.suspect, Now: exNow, Settle: exSettle, Grace: exGrace, NextRun: exNow.Add(5 * time.Minute),
	})
}

func takenRow(n int, holder string, at time.Time) Row {
	return Row{Number: n, Tag: "MK-1 ", Holder: holder, Date: at.Format(time.RFC3339), DateState: DateValid, OccupiedAt: at}
}

func lockOf(id int, at time.Time) *Lock {
	return &Lock{Value: "v-" + at.Format("150405"), WorkerID: id, At: at}
}

func TestExplainEveryVerdict(t *testing.T) {
	occ := exNow.Add(-time.Hour)
	free := Row{Number: 7, Tag: "MK-1", Holder: "DISPONIBLE"}
	released := exNow.Add(-20 * time.Second)
	oldRelease := exNow.Add(-5 * time.Minute)
	cases := []struct {
		name    string
		c       explainCase
		verdict Verdict
		next    string
		nextAt  time.Time // zero: null
		summary string    // a part of the sentence
		check   func(t *testing.T, e Explanation)
	}{
		{name: "in sync", verdict: VerdictInSync, next: NextNone, summary: "Nothing to do",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Lock: lockOf(93, occ), TTL: -1}}},
		{name: "in sync, restored and not yet verified", verdict: VerdictInSync, next: NextLook, nextAt: exNow.Add(-10*time.Second + exSettle + time.Second),
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Lock: lockOf(93, occ), TTL: -1,
				Marker: &RestoreMarker{Value: lockOf(93, occ).Value, At: exNow.Add(-10 * time.Second)}}},
			check: func(t *testing.T, e Explanation) {
				if e.RestoreMarker == nil || !e.RestoreMarker.VerifyAt.Equal(exNow.Add(51*time.Second)) {
					t.Errorf("restore_marker %+v, want verify_at = marker + settle + 1s", e.RestoreMarker)
				}
			}},
		{name: "missing", verdict: VerdictMissing, next: NextRestore, nextAt: exNow.Add(5 * time.Minute), summary: "has no lock although",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}}},
		{name: "missing after an old tombstone", verdict: VerdictMissing, next: NextRestore, nextAt: exNow.Add(5 * time.Minute),
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Tombstone: &oldRelease}}},
		{name: "orphan, row free", verdict: VerdictOrphan, next: NextRelease, nextAt: exNow.Add(-3*time.Minute + exGrace), summary: "its row is free",
			c: explainCase{rows: []Row{free}, state: SpoolState{Lock: lockOf(7, occ), TTL: -1,
				Sighting: &OrphanSighting{Value: lockOf(7, occ).Value, FirstSeen: exNow.Add(-3 * time.Minute)}}},
			check: func(t *testing.T, e Explanation) {
				if e.Orphan == nil || e.Orphan.ReleaseAt == nil || !e.Orphan.ReleaseAt.Equal(exNow.Add(7*time.Minute)) ||
					!e.Orphan.FirstSeen.Equal(exNow.Add(-3*time.Minute)) {
					t.Errorf("orphan %+v, want first_seen and release_at = first_seen + grace", e.Orphan)
				}
			}},
		{name: "orphan, no row, not yet sighted", verdict: VerdictOrphan, next: NextLook, nextAt: exNow.Add(5 * time.Minute), summary: "the sheet has no row",
			c: explainCase{state: SpoolState{Lock: lockOf(7, occ), TTL: -1}},
			check: func(t *testing.T, e Explanation) {
				if e.Orphan == nil || e.Orphan.FirstSeen != nil || e.Orphan.ReleaseAt != nil {
					t.Errorf("orphan %+v, want an object with null times", e.Orphan)
				}
			}},
		{name: "orphan restored by the worker: retraction", verdict: VerdictOrphan, next: NextRetract, nextAt: exNow,
			c: explainCase{rows: []Row{free}, state: SpoolState{Lock: lockOf(7, occ), TTL: -1,
				Marker: &RestoreMarker{Value: lockOf(7, occ).Value, At: exNow.Add(-2 * time.Minute)}}}},
		{name: "other holder, not yet sighted: the next look records it", verdict: VerdictOtherHolder, next: NextLook,
			nextAt: exNow.Add(5 * time.Minute), summary: "another occupation",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Lock: lockOf(44, occ), TTL: 5 * time.Second}},
			check: func(t *testing.T, e Explanation) {
				if e.Lock == nil || e.Lock.TTLMs != 5000 || *e.Lock.WorkerID != 44 {
					t.Errorf("lock %+v, want worker 44 and its TTL", e.Lock)
				}
			}},
		{name: "other holder, sighted: released after the grace", verdict: VerdictOtherHolder, next: NextRelease,
			nextAt: exNow.Add(-time.Minute).Add(exGrace), summary: "another occupation",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Lock: lockOf(44, occ), TTL: -1,
				Sighting: &OrphanSighting{Value: lockOf(44, occ).Value, FirstSeen: exNow.Add(-time.Minute)}}}},
		{name: "in sync with a TTL: looked at when it ends", verdict: VerdictInSync, next: NextLook,
			nextAt: exNow.Add(7*time.Second + TTLLookMargin), summary: "still has a TTL",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Lock: lockOf(93, occ), TTL: 7 * time.Second}}},
		{name: "recently released", verdict: VerdictRecentlyReleased, next: NextRestore, nextAt: released.Add(exSettle), summary: "was released at",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, state: SpoolState{Tombstone: &released}},
			check: func(t *testing.T, e Explanation) {
				if e.TombstoneUntil == nil || !e.TombstoneUntil.Equal(released.Add(exSettle)) {
					t.Errorf("tombstone_until %v, want release + settle", e.TombstoneUntil)
				}
			}},
		{name: "suspect sheet", verdict: VerdictSuspectSheet, next: NextNone, summary: "looks wrong",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", occ)}, suspect: true},
			check: func(t *testing.T, e Explanation) {
				if !e.SheetSuspect || !strings.Contains(e.Summary, "would be missing") {
					t.Errorf("sheet_suspect %v, summary %q", e.SheetSuspect, e.Summary)
				}
			}},
		{name: "free", verdict: VerdictFree, next: NextNone, c: explainCase{rows: []Row{free}}},
		{name: "free with a tombstone", verdict: VerdictFree, next: NextNone, c: explainCase{rows: []Row{free}, state: SpoolState{Tombstone: &released}}},
		{name: "not restorable: too old", verdict: VerdictNotRestorable, next: NextNone, summary: "MAX_LOCK_AGE",
			c: explainCase{rows: []Row{takenRow(3, "MR(93)", exNow.Add(-25*time.Hour))}},
			check: func(t *testing.T, e Explanation) {
				if e.Sheet.Rows[0].Class != string(ClassTooOld) {
					t.Errorf("row class %q, want too_old", e.Sheet.Rows[0].Class)
				}
			}},
		{name: "not restorable: invalid holder, lock kept", verdict: VerdictNotRestorable, next: NextNone, summary: "keeps that lock",
			c: explainCase{rows: []Row{takenRow(3, "MR", occ)}, state: SpoolState{Lock: lockOf(7, occ), TTL: -1}}},
		{name: "unknown", verdict: VerdictUnknown, next: NextNone, summary: "not in the sheet",
			c: explainCase{rows: []Row{{Number: 2, Tag: "OTHER", Holder: "MR(93)"}}}},
	}
	seen := map[Verdict]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.c.explain(t)
			seen[e.Verdict] = true
			if e.Verdict != tc.verdict {
				t.Fatalf("verdict %q, want %q (summary %q)", e.Verdict, tc.verdict, e.Summary)
			}
			if e.Next.Action != tc.next {
				t.Errorf("next %q, want %q", e.Next.Action, tc.next)
			}
			switch {
			case tc.nextAt.IsZero() && e.Next.At != nil:
				t.Errorf("next.at %v, want null", e.Next.At)
			case !tc.nextAt.IsZero() && (e.Next.At == nil || !e.Next.At.Equal(tc.nextAt)):
				t.Errorf("next.at %v, want %v", e.Next.At, tc.nextAt)
			}
			if !strings.Contains(e.Summary, tc.summary) {
				t.Errorf("summary %q lacks %q", e.Summary, tc.summary)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
	for _, v := range Verdicts {
		if !seen[v] {
			t.Errorf("no case gives verdict %q", v)
		}
	}
}

// TestExplainJSONShape: every field of the contract is present, null where nothing applies,
// and the rows and history are arrays even when empty.
func TestExplainJSONShape(t *testing.T) {
	e := explainCase{}.explain(t)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tag": `"MK-1"`, "verdict": `"unknown"`, "lock": "null", "orphan": "null",
		"tombstone_until": "null", "restore_marker": "null", "sheet_suspect": "false", "history": "[]",
		"next": `{"action":"none","at":null}`, "sheet": `{"rows":[]}`}
	for k, v := range want {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
	if _, ok := m["summary"]; !ok || len(m) != 11 {
		t.Errorf("fields %d (%s), want the contract's 11", len(m), b)
	}
}

// TestExplainDuplicateRows: every row of the tag is shown, the first decides.
func TestExplainDuplicateRows(t *testing.T) {
	occ := exNow.Add(-time.Hour)
	e := explainCase{rows: []Row{{Number: 2, Tag: "MK-1", Holder: ""}, takenRow(9, "MR(93)", occ)}}.explain(t)
	if e.Verdict != VerdictFree || len(e.Sheet.Rows) != 2 || e.Sheet.Rows[1].Class != string(ClassDuplicateTag) {
		t.Errorf("verdict %q rows %+v, want free with the second row a duplicate", e.Verdict, e.Sheet.Rows)
	}
}

func TestVerdictDrift(t *testing.T) {
	for _, v := range Verdicts {
		want := v != VerdictInSync && v != VerdictFree && v != VerdictUnknown
		if v.Drift() != want {
			t.Errorf("%s.Drift() = %v", v, v.Drift())
		}
	}
}
