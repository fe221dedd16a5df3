package tests

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"reconciler/jobs"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// A restore refused as stale_snapshot (it ran more than RESTORE_MAX_STALENESS after the sheet
// was read: it waited in the queue, or was taken back from a worker that died) must not leave
// its spool unlocked until the schedule: the worker takes one fresh look at that spool. Here
// the first sheet read is slow, so every restore of the boot reconcile is stale.

// startStale starts a worker whose first batchGet takes 2.5 s with RESTORE_MAX_STALENESS=1s;
// keepSlow leaves the sheet slow for every later read too.
func startStale(t *testing.T, keepSlow bool) (*redisserver.Server, *sheetsemu.Emulator, spoolSheet, *proc) {
	t.Helper()
	sheet := buildSheet(t, 50, time.Now())
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	emu.SetDelay(2500 * time.Millisecond)
	w := startWorker(t, faultEnv(rds, emu, map[string]string{"RESTORE_MAX_STALENESS": "1s", "LOG_FORMAT": "json"}))
	if !eventually(15*time.Second, func() bool { return batchGets(emu) >= 1 }) {
		t.Fatal("the boot reconcile did not read the sheet")
	}
	if !keepSlow {
		emu.SetDelay(0) // the read under way stays slow; the next ones are fast
	}
	return rds, emu, sheet, w
}

func TestStaleRestoreGetsAFreshLook(t *testing.T) {
	rds, emu, sheet, w := startStale(t, false)
	want := len(sheet.candidates)
	if !eventually(20*time.Second, func() bool { return countLocks(rds) == want }) {
		t.Fatalf("%d locks, want %d", countLocks(rds), want)
	}
	tally := tallies(t, rds)
	if tally["stale_snapshot"] != want || tally["restored"] != want {
		t.Fatalf("restore outcomes %v, want %d stale_snapshot (boot run) then %d restored (the fresh look)", tally, want, want)
	}
	var looks int
	for _, rec := range logLines(w.Stderr.String(), "reconcile finished") {
		if rec["trigger"] == "stale-restore" {
			looks++
		}
	}
	if looks == 0 || batchGets(emu) > 1+looks {
		t.Fatalf("%d stale-restore reconciles, %d sheet reads: want the stale spools looked at again, coalesced", looks, batchGets(emu))
	}
	if looks > 3 {
		t.Errorf("%d stale-restore reconciles for one burst of %d stale restores, want them coalesced", looks, want)
	}
}

func TestStaleRestoreLooksAgainOnlyOnce(t *testing.T) {
	rds, emu, sheet, w := startStale(t, true)
	want := len(sheet.candidates)
	// Boot run: every restore stale. The fresh look: slow too, so stale again; it must not ask
	// for another look, or a sheet slower than the staleness bound would be read without end.
	if !eventually(30*time.Second, func() bool {
		return len(logLines(w.Stderr.String(), "restore stale again after a fresh look; the next reconcile will retry it (is RESTORE_MAX_STALENESS shorter than a sheet read plus the restore queue?)")) == want
	}) {
		t.Fatalf("restores stale twice: %v; sheet reads %d", tallies(t, rds), batchGets(emu))
	}
	// A restore asks for its look before it finishes, and the look is queued (or grouped) at
	// once; the schedule is off. So once both queues are idle, every look asked for has run
	// and no read can come: the counts below are final.
	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: rds.Addr()})
	t.Cleanup(func() { _ = inspector.Close() })
	idle := func(queue string) bool {
		q, err := inspector.GetQueueInfo(queue)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry+q.Aggregating == 0
	}
	if !eventually(30*time.Second, func() bool { return idle(jobs.QueueRestore) && idle(jobs.QueueReconcile) }) {
		t.Fatalf("queues not idle after the second stale round; sheet reads %d", batchGets(emu))
	}
	looks := 0
	for _, rec := range logLines(w.Stderr.String(), "reconcile finished") {
		if rec["trigger"] == jobs.TriggerStaleRestore {
			looks++
		}
	}
	if reads := batchGets(emu); looks == 0 || reads != 1+looks {
		t.Fatalf("%d sheet reads and %d stale-restore looks, want the boot read plus one read per look", reads, looks)
	}
	if tally := tallies(t, rds); tally["stale_snapshot"] != 2*want || countLocks(rds) != 0 {
		t.Fatalf("restore outcomes %v with %d locks, want %d stale_snapshot (two rounds, no third) and no lock written", tally, countLocks(rds), 2*want)
	}
}
