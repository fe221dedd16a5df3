package worker

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"reconciler/jobs"
)

// /readyz's summary keeps its flat JSON shape: the counts jobs marks for the summary are
// members of the same object as run_id and rows, and the body reads back the same.
func TestReportSummaryJSON(t *testing.T) {
	at := time.Date(2026, 5, 13, 12, 0, 0, 0, time.UTC)
	rep := &jobs.Report{RunID: "r1", Trigger: jobs.TriggerBoot, FinishedAt: at, Rows: 9, Candidate: 4, Free: 3,
		Missing: 2, Enqueued: 2, HolderMismatch: 1, OrphanLocks: 5, AlreadyLocked: 7, ProblemsTotal: 6}
	body, err := json.Marshal(summarize(rep))
	if err != nil {
		t.Fatal(err)
	}
	var flat map[string]any
	if err := json.Unmarshal(body, &flat); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"run_id": "r1", "trigger": "boot", "dry_run": false, "finished_at": "2026-05-13T12:00:00Z",
		"rows": 9.0, "problems": 6.0, "candidate": 4.0, "missing": 2.0, "enqueued": 2.0, "holder_mismatch": 1.0, "orphan_locks": 5.0,
		"orphans_past_grace": 0.0, "orphans_released": 0.0, "retracted": 0.0, "replaced": 0.0, "sheet_suspect": false}
	if !reflect.DeepEqual(flat, want) {
		t.Fatalf("summary JSON %s\nwant the members %v", body, want)
	}

	var back ReportSummary
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, summarize(rep)) {
		t.Fatalf("read back %+v, want %+v", back, *summarize(rep))
	}
}
