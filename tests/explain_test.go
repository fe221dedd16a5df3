package tests

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// explained is the part of explain's JSON the tests read.
type explained struct {
	Tag     string
	Verdict string
	Summary string
	Next    struct {
		Action string
		At     *time.Time
	}
	Sheet struct {
		Rows []struct {
			Row   int
			Class string
		}
	}
	Lock *struct {
		Value string
	}
	Orphan *struct {
		FirstSeen *time.Time `json:"first_seen"`
		ReleaseAt *time.Time `json:"release_at"`
	}
	TombstoneUntil *time.Time `json:"tombstone_until"`
	History        []struct {
		Action  string
		Value   string
		RunID   string `json:"run_id"`
		Trigger string
		Detail  string
	}
}

func explain(t *testing.T, env map[string]string, tag string) (explained, int) {
	t.Helper()
	out, errOut, code := cli(t, env, "explain", tag, "--json")
	if code != 0 && code != 3 {
		t.Fatalf("explain %q: exit %d\n%s\n%s", tag, code, out, errOut)
	}
	var e explained
	mustJSON(t, out, &e)
	return e, code
}

func (e explained) hasHistory(action, trigger string) bool {
	for _, h := range e.History {
		if h.Action == action && (trigger == "" || h.Trigger == trigger) {
			return true
		}
	}
	return false
}

// explainSheet is a small sheet with one spool of each kind explain tells apart.
func explainSheet(now time.Time) [][]any {
	at := func(ago time.Duration) string { return now.Add(-ago).In(santiago).Format("02-01-2006 15:04:05") }
	return sheetsemu.Grid(sheets.OperacionesHeader(),
		sheetsemu.Spool("EX-SYNC", "MR(93)", at(time.Hour)),
		sheetsemu.Spool("EX-MISS", "JP(7)", at(2*time.Hour)),
		sheetsemu.Spool("EX-TOMB", "AB(12)", at(3*time.Hour)),
		sheetsemu.Spool("EX-OLD", "MR(93)", at(30*time.Hour)),
		sheetsemu.Spool("EX-ORPHAN", "DISPONIBLE", ""),
		sheetsemu.Spool("<script>alert(1)</script>", "<b>JP</b>(7)", at(time.Hour)),
	)
}

// TestExplainEndToEnd: the built binary, a real redis-server and the emulator. A restored spool
// is in_sync with its `restored` entry from the boot run; an orphan shows its release time
// (first sighting + ORPHAN_GRACE), then is released (history `released`, verdict free); a
// tombstoned spool is recently_released; a row too old is not_restorable; an unknown tag is
// unknown; a lock deleted while the worker is stopped is missing (exit 3). explain writes
// nothing; history lists the stream.
func TestExplainEndToEnd(t *testing.T) {
	now := time.Now()
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", explainSheet(now))
	const grace = 8 * time.Second
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off", "ORPHAN_GRACE": grace.String(),
	}
	orphanValue := "7:33333333-3333-4333-8333-333333333333:01-01-2026 00:00:00"
	rds.MustDo("SET", "spool_lock:EX-ORPHAN", orphanValue)
	// A release the watcher recorded a moment ago: the boot restore of EX-TOMB is refused.
	rds.MustDo("SET", "reconciler:released:EX-TOMB", strconv.FormatInt(time.Now().UnixMilli(), 10), "PX", "600000")

	w := startWorker(t, env)
	if !eventually(30*time.Second, func() bool {
		return rds.MustDo("EXISTS", "spool_lock:EX-SYNC") == "1" && rds.MustDo("EXISTS", "spool_lock:EX-MISS") == "1" &&
			rds.MustDo("HEXISTS", "reconciler:orphans", "EX-ORPHAN") == "1"
	}) {
		t.Fatal("the boot reconcile did not restore EX-SYNC and EX-MISS and record the orphan within 30s")
	}
	reads := emu.Requests()

	e, code := explain(t, env, " EX-SYNC ") // matched trimmed, as the worker matches tags
	if e.Verdict != "in_sync" || code != 0 || e.Tag != "EX-SYNC" || e.Lock == nil {
		t.Fatalf("EX-SYNC: %s (exit %d), want in_sync, exit 0: %+v", e.Verdict, code, e)
	}
	if !e.hasHistory("restored", "boot") || e.History[0].Value != e.Lock.Value || e.History[0].RunID == "" {
		t.Errorf("EX-SYNC history %+v, want `restored` of its lock by the boot run", e.History)
	}
	if got := emu.Requests() - reads; got > 2 {
		t.Errorf("explain made %d Sheets requests, want one read (plus the header check)", got)
	}

	o, code := explain(t, env, "EX-ORPHAN")
	first := rds.MustDo("HGET", "reconciler:orphans", "EX-ORPHAN")
	ms, _ := strconv.ParseInt(strings.SplitN(first, "|", 2)[0], 10, 64)
	if o.Verdict != "orphan" || code != 3 || o.Orphan == nil || o.Orphan.FirstSeen == nil || o.Orphan.ReleaseAt == nil {
		t.Fatalf("EX-ORPHAN: %s (exit %d) orphan %+v, want orphan, exit 3, with its sighting", o.Verdict, code, o.Orphan)
	}
	if !o.Orphan.FirstSeen.Equal(time.UnixMilli(ms)) || !o.Orphan.ReleaseAt.Equal(time.UnixMilli(ms).Add(grace)) ||
		o.Next.Action != "release" || o.Next.At == nil || !o.Next.At.Equal(*o.Orphan.ReleaseAt) {
		t.Errorf("EX-ORPHAN: first_seen %v release_at %v next %+v, want %v and %v + ORPHAN_GRACE",
			o.Orphan.FirstSeen, o.Orphan.ReleaseAt, o.Next, time.UnixMilli(ms), time.UnixMilli(ms))
	}

	tomb, code := explain(t, env, "EX-TOMB")
	if tomb.Verdict != "recently_released" || code != 3 || tomb.TombstoneUntil == nil || !tomb.hasHistory("refused", "boot") {
		t.Errorf("EX-TOMB: %s (exit %d) until %v history %+v, want recently_released with the boot run's refusal", tomb.Verdict, code, tomb.TombstoneUntil, tomb.History)
	} else if !strings.HasPrefix(tomb.History[0].Detail, "recently_released") {
		t.Errorf("EX-TOMB refusal detail %q, want the reason", tomb.History[0].Detail)
	}
	if old, code := explain(t, env, "EX-OLD"); old.Verdict != "not_restorable" || code != 3 || len(old.Sheet.Rows) != 1 || old.Sheet.Rows[0].Class != "too_old" {
		t.Errorf("EX-OLD: %s (exit %d) rows %+v, want not_restorable with class too_old", old.Verdict, code, old.Sheet.Rows)
	}
	if u, code := explain(t, env, "NO-SUCH-SPOOL"); u.Verdict != "unknown" || code != 0 {
		t.Errorf("unknown tag: %s (exit %d), want unknown, exit 0", u.Verdict, code)
	}

	// The orphan's grace ends: the worker's own look releases it.
	if !eventually(grace+20*time.Second, func() bool { return rds.MustDo("EXISTS", "spool_lock:EX-ORPHAN") == "0" }) {
		t.Fatalf("the orphan was not released within ORPHAN_GRACE + 20s")
	}
	if f, code := explain(t, env, "EX-ORPHAN"); f.Verdict != "free" || code != 0 || !f.hasHistory("released", "") || f.History[0].Value != orphanValue {
		t.Errorf("EX-ORPHAN after release: %s (exit %d) history %+v, want free with `released` of %q", f.Verdict, code, f.History, orphanValue)
	}

	// history: the whole stream, or one spool's, newest first.
	out, errOut, code := cli(t, env, "history", "--spool", "EX-SYNC", "--since", "1h", "--json")
	var hist []struct{ Tag, Action, Trigger string }
	mustJSON(t, out, &hist)
	if code != 0 || len(hist) != 1 || hist[0].Tag != "EX-SYNC" || hist[0].Action != "restored" || hist[0].Trigger != "boot" {
		t.Errorf("history --spool EX-SYNC: exit %d %+v %s", code, hist, errOut)
	}
	out, _, code = cli(t, env, "history")
	if code != 0 || !strings.Contains(out, "EX-ORPHAN") || !strings.Contains(out, "released") || !strings.Contains(out, "EX-MISS") {
		t.Errorf("history: exit %d\n%s", code, out)
	}
	if _, _, code := cli(t, env, "explain"); code != 2 {
		t.Errorf("explain without a tag: exit %d, want 2", code)
	}

	// A lock lost while the worker is stopped: missing, exit 3, the restore is next.
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(8 * time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	rds.MustDo("DEL", "spool_lock:EX-MISS")
	keys, stream := rds.MustDo("DBSIZE"), rds.MustDo("XLEN", "reconciler:history")
	m, code := explain(t, env, "EX-MISS")
	if m.Verdict != "missing" || code != 3 || m.Next.Action != "restore" || m.Lock != nil {
		t.Errorf("EX-MISS after its lock was deleted: %s (exit %d) next %+v, want missing, exit 3, restore next", m.Verdict, code, m.Next)
	}
	text, _, code := cli(t, env, "explain", "EX-MISS")
	if code != 3 || !strings.Contains(text, "EX-MISS: missing") || !strings.Contains(text, "restored") {
		t.Errorf("explain EX-MISS (text): exit %d\n%s", code, text)
	}
	fmt.Fprint(testLog{t}, text)
	if got, xlen := rds.MustDo("DBSIZE"), rds.MustDo("XLEN", "reconciler:history"); got != keys || xlen != stream {
		t.Errorf("explain wrote to Redis: DBSIZE %s (was %s), history %s entries (was %s)", got, keys, xlen, stream)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }
