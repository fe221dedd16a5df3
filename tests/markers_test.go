package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// legacyMarker writes the restore marker a worker of the version before wrote for tag: its own
// key, "{ms}|{value}", with RELEASE_SETTLE + 15 min of TTL.
func legacyMarker(rds *redisserver.Server, tag, value string, at time.Time, settle time.Duration) {
	rds.MustDo("SET", "reconciler:restored:"+tag, fmt.Sprintf("%d|%s", at.UnixMilli(), value),
		"PX", fmt.Sprint((settle + 15*time.Minute).Milliseconds()))
}

// TestMarkersOfEarlierVersionDuringUpgrade: a rolling deploy. A worker of the version before
// restored three locks and wrote its markers as keys (reconciler:restored:{TAG}); this version
// takes over. Its boot run (a full run reads the markers of the locks the sheet does not back)
// retracts the lock whose row is free and swaps the one whose row shows another occupation for
// that occupation; a look at the backed one verifies it. Every old key goes with its lock's
// judgement, and the swapped-in lock's marker is this version's (a field of
// reconciler:restored), verified in turn.
func TestMarkersOfEarlierVersionDuringUpgrade(t *testing.T) {
	const settle = 2 * time.Second
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	header := sheets.OperacionesHeader()
	taken := time.Now().Add(-30 * time.Minute)
	other := time.Now().Add(-time.Minute)
	emu.SetSheet("Operaciones", sheetsemu.Grid(header,
		sheetsemu.Spool("UP-GONE", "", ""),
		sheetsemu.Spool("UP-KEPT", "MR(93)", sheetDate(taken)),
		sheetsemu.Spool("UP-SWAP", "SB(95)", sheetDate(other)),
	))
	restoredAt := time.Now().Add(-10 * time.Second) // past RELEASE_SETTLE: due
	for _, tag := range []string{"UP-GONE", "UP-KEPT", "UP-SWAP"} {
		v := backendValue(93, taken)
		rds.MustDo("SET", "spool_lock:"+tag, v)
		legacyMarker(rds, tag, v, restoredAt, settle)
	}
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"KEYSPACE_EVENTS": "off", "RECONCILE_SCHEDULE": "off", "RELEASE_SETTLE": settle.String(),
		"SHEETS_MAX_READS_PER_MINUTE": "600",
	}
	w := startWorker(t, env)
	gone := func(key string) bool { n, _ := rds.Do("EXISTS", key); return n == "0" }
	if !eventually(20*time.Second, func() bool {
		return gone("spool_lock:UP-GONE") && holds(rds, "UP-SWAP", 95, sheetDate(other))
	}) {
		t.Fatalf("the boot run did not judge the old version's restores\n%s", summary(w.Stderr.String()))
	}
	if got := settledReportSum(w, "retracted", 1, "boot"); got != 1 {
		t.Errorf("retracted %d, want 1", got)
	}
	if got := settledReportSum(w, "replaced", 1, "boot"); got != 1 {
		t.Errorf("replaced %d, want 1", got)
	}
	for _, tag := range []string{"UP-GONE", "UP-SWAP"} {
		if !gone("reconciler:restored:" + tag) {
			t.Errorf("%s: the old version's marker outlived its judgement", tag)
		}
	}
	// The swapped-in lock is marked by this version, and verified by its own look.
	if !eventually(15*time.Second, func() bool {
		n, _ := rds.Do("HEXISTS", "reconciler:restored", "UP-SWAP")
		return n == "0" && holds(rds, "UP-SWAP", 95, sheetDate(other))
	}) {
		t.Error("the swapped-in lock's marker was never verified")
	}
	// The backed lock: the full run left it (the sheet backs it exactly); a look verifies it.
	if gone("reconciler:restored:UP-KEPT") {
		t.Fatal("the full run dropped the marker of a lock the sheet backs (it reads only the others)")
	}
	if out, errOut, code := cli(t, env, "enqueue", "--wait", "--spool", "UP-KEPT"); code != 0 {
		t.Fatalf("enqueue --spool UP-KEPT: exit %d\n%s\n%s", code, out, errOut)
	}
	if !eventually(10*time.Second, func() bool { return gone("reconciler:restored:UP-KEPT") }) {
		t.Error("the look at a backed lock did not drop the old version's marker")
	}
	if !holds(rds, "UP-KEPT", 93, sheetDate(taken)) {
		t.Error("the backed lock did not survive its verification")
	}
	if keys := rds.MustDo("KEYS", "reconciler:restored:*"); strings.TrimSpace(keys) != "" {
		t.Errorf("old markers left: %q", keys)
	}
}
