package tests

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// TestDelayedLooksSurviveKill9: a verify look and an orphan look asked for by a worker that is
// then killed with SIGKILL are carried out at their time by another worker process. Worker A
// restores spool V (its verify look is scheduled RELEASE_SETTLE + 1 s later) and first sees
// the orphan lock of spool O (its look is scheduled ORPHAN_GRACE + 1 s later), and is killed.
// V's row is then freed. Worker B, started with the schedule and keyspace events off (nothing
// else would look at V or O), runs both looks when due: V's restored lock is retracted and
// O's orphan released.
func TestDelayedLooksSurviveKill9(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	header := sheets.ProductionHeader(true)
	taken := sheetsemu.Grid(header,
		sheetsemu.Spool("LOOK-V", "MR(93)", sheetsemu.DateTime(now.Add(-time.Hour))),
		sheetsemu.Spool("LOOK-O", "", nil),
	)
	emu.SetSheet("Operaciones", taken)
	orphanValue := "7:33333333-3333-4333-8333-333333333333:" + now.Add(-2*time.Hour).In(santiago).Format("02-01-2006 15:04:05")
	rds.MustDo("SET", "spool_lock:LOOK-O", orphanValue)
	// Long enough that worker B's own boot reconcile (when it falls in a new minute slot) comes
	// before the verify marker and the orphan are due: only the looks can act on them.
	const settle, grace = 8 * time.Second, 8 * time.Second
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off",
		"RELEASE_SETTLE": settle.String(), "ORPHAN_GRACE": grace.String(), "SHEETS_MAX_READS_PER_MINUTE": "600",
	}

	a := startWorker(t, env)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ids := map[string]string{}             // trigger → task id, of the looks worker A scheduled
	looks := func() map[string]time.Time { // trigger → due, of the scheduled looks
		out := map[string]time.Time{}
		tasks, err := insp.ListScheduledTasks(jobs.QueueReconcile)
		if err != nil {
			return out
		}
		for _, ti := range tasks {
			if ti.Type != jobs.TypeLook {
				continue
			}
			p, err := jobs.DecodeLookPayload(ti.Payload)
			if err == nil {
				out[p.Trigger] = ti.NextProcessAt
				ids[p.Trigger] = ti.ID
			}
		}
		return out
	}
	if !eventually(20*time.Second, func() bool {
		l := looks()
		return rds.MustDo("EXISTS", "spool_lock:LOOK-V") == "1" && !l[jobs.TriggerVerify].IsZero() && !l[jobs.TriggerOrphan].IsZero()
	}) {
		t.Fatalf("worker A did not restore LOOK-V and schedule both looks: lock %s, looks %v",
			rds.MustDo("EXISTS", "spool_lock:LOOK-V"), looks())
	}
	due := looks()
	a.Signal(syscall.SIGKILL)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatal("worker A still runs after SIGKILL")
	}
	killedAt := time.Now()
	for trigger, at := range due {
		if !at.After(killedAt) {
			t.Fatalf("the %s look was due at %v, before worker A was killed (%v): the test proves nothing", trigger, at, killedAt)
		}
	}
	// The occupation of V ends while no worker runs.
	emu.SetSheet("Operaciones", sheetsemu.Grid(header, sheetsemu.Spool("LOOK-V", "", nil), sheetsemu.Spool("LOOK-O", "", nil)))

	b := startWorker(t, env)
	last := due[jobs.TriggerVerify]
	if due[jobs.TriggerOrphan].After(last) {
		last = due[jobs.TriggerOrphan]
	}
	if !eventually(time.Until(last)+15*time.Second, func() bool {
		return rds.MustDo("EXISTS", "spool_lock:LOOK-V") == "0" && rds.MustDo("EXISTS", "spool_lock:LOOK-O") == "0"
	}) {
		t.Fatalf("after the looks were due (%v): LOOK-V lock %s (want retracted), LOOK-O lock %s (want released); looks left %v",
			due, rds.MustDo("EXISTS", "spool_lock:LOOK-V"), rds.MustDo("EXISTS", "spool_lock:LOOK-O"), looks())
	}
	for trigger, id := range ids {
		ti, err := insp.GetTaskInfo(jobs.QueueReconcile, id)
		if err != nil || ti.State != asynq.TaskStateCompleted {
			t.Errorf("worker A's %s look %s: %v, %v; want completed by worker B", trigger, id, ti, err)
			continue
		}
		// Worker B's look watch wakes its fast server for a look it did not ask for.
		late := ti.CompletedAt.Sub(due[trigger])
		t.Logf("the %s look ran %v after its time", trigger, late)
		if late < 0 || late > 1500*time.Millisecond {
			t.Errorf("the %s look ran %v after its time, want within ~1 s", trigger, late)
		}
	}
	for trigger, field := range map[string]string{jobs.TriggerVerify: "retracted", jobs.TriggerOrphan: "orphans_released"} {
		if n := settledReportSum(b, field, 1, trigger); n != 1 {
			t.Errorf("worker B: %s = %d in its %s runs, want 1", field, n, trigger)
		}
		for _, r := range logLines(b.Stderr.String(), "reconcile finished") {
			if r["trigger"] != trigger {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["time"]))
			if err != nil {
				t.Fatal(err)
			}
			if at.Before(due[trigger]) {
				t.Errorf("the %s run finished at %v, before its look was due (%v)", trigger, at, due[trigger])
			}
			if late := at.Sub(due[trigger]); late > 4*time.Second {
				t.Errorf("the %s run finished %v after its look was due", trigger, late)
			}
		}
	}
}
