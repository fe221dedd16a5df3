package jobs

import (
	"strings"
	"testing"
	"time"
)

// The payload a task is built with is the payload its handler decodes.
func TestPayloadsRoundTrip(t *testing.T) {
	at := time.Date(2026, 5, 13, 11, 33, 48, 0, time.UTC)
	want := RestorePayload{Tag: "MK-1", Holder: "MR(93)", WorkerID: 93, OccupiedAt: at, SnapshotAt: at.Add(time.Minute), Row: 7, RunID: "run-1", Trigger: TriggerBoot}
	task, err := DefaultTasks.Restore(want, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRestorePayload(task.Payload())
	if err != nil || got != want {
		t.Fatalf("DecodeRestorePayload = %+v, %v; want %+v", got, err, want)
	}

	rp := ReconcilePayload{Trigger: TriggerManual, Spools: []string{"A", "B"}, DryRun: true, RequestedAt: at}
	task, err = DefaultTasks.Reconcile(rp)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReconcilePayload(task.Payload())
	if err != nil || back.Trigger != rp.Trigger || strings.Join(back.Spools, ",") != "A,B" || !back.DryRun || !back.RequestedAt.Equal(at) {
		t.Fatalf("DecodeReconcilePayload = %+v, %v; want %+v", back, err, rp)
	}
}

func TestDecodePayloadErrorsNameTheTask(t *testing.T) {
	if _, err := DecodeRestorePayload([]byte("{not json")); err == nil || !strings.Contains(err.Error(), "restore payload") {
		t.Errorf("DecodeRestorePayload(garbage) = %v, want an error naming the restore payload", err)
	}
	if _, err := DecodeReconcilePayload([]byte(`{"spools": 5}`)); err == nil || !strings.Contains(err.Error(), "reconcile payload") {
		t.Errorf("DecodeReconcilePayload(wrong type) = %v, want an error naming the reconcile payload", err)
	}
}
