package jobs

import "time"

// RestoreBatchPayload is the payload of lock:restore-batch: what the run shares once, and per
// spool what a lock:restore payload carries of it.
type RestoreBatchPayload struct {
	RunID      string         `json:"run_id"`
	Trigger    string         `json:"trigger"`
	SnapshotAt time.Time      `json:"snapshot_at"`
	Spools     []BatchedSpool `json:"spools"`
}

// BatchedSpool is one spool of a restore batch.
type BatchedSpool struct {
	Tag        string    `json:"tag"`
	Holder     string    `json:"holder"`
	WorkerID   int       `json:"worker_id"`
	OccupiedAt time.Time `json:"occupied_at"`
	Row        int       `json:"row"`
}

// RestoreBatchResult is the result of lock:restore-batch (asynqmon shows it): how many locks
// had each outcome and every spool's outcome, as the spools of each outcome in the payload's
// order (grouped, the result of a 500-spool batch stays a few kB).
type RestoreBatchResult struct {
	RunID    string                      `json:"run_id"`
	Outcomes map[RestoreOutcome]int      `json:"outcomes"`
	Spools   map[RestoreOutcome][]string `json:"spools"`
}
