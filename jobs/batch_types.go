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

// RestoreBatchResult is the result of lock:restore-batch: the outcome counts and every
// spool's outcome, in the payload's order (asynqmon shows it).
type RestoreBatchResult struct {
	RunID    string                 `json:"run_id"`
	Outcomes map[RestoreOutcome]int `json:"outcomes"`
	Spools   []SpoolOutcome         `json:"spools"`
}

// SpoolOutcome is one spool's outcome in a batch result.
type SpoolOutcome struct {
	Tag     string         `json:"tag"`
	Outcome RestoreOutcome `json:"outcome"`
}
