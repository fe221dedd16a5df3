package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RestoreBatchPayload is the payload of lock:restore-batch: what the run shares once, and per
// spool what a lock:restore payload carries of it.
type RestoreBatchPayload struct {
	RunID      string         `json:"run_id"`
	Trigger    string         `json:"trigger"`
	SnapshotAt time.Time      `json:"snapshot_at"`
	Spools     []BatchedSpool `json:"spools"`
}

// batchWire is a batch payload as stored: the spools' fields as parallel arrays (one array of
// tags, one of holders, …, occupation times in unix ms). encoding/json matches every field
// name of every object, so a list of 500 objects took twice as long to decode and three times as
// long to encode as these five arrays: some 60 ms of CPU in a recovery of 20,000 locks, spent
// while the restores compete with Redis for the same cores. "spools" is the earlier form (a
// list of objects), still read for tasks queued by an older worker.
type batchWire struct {
	RunID      string         `json:"run_id"`
	Trigger    string         `json:"trigger"`
	SnapshotAt time.Time      `json:"snapshot_at"`
	Tags       []string       `json:"tags,omitempty"`
	Holders    []string       `json:"holders,omitempty"`
	WorkerIDs  []int          `json:"worker_ids,omitempty"`
	OccupiedMs []int64        `json:"occupied_at_ms,omitempty"`
	Rows       []int          `json:"rows,omitempty"`
	Spools     []BatchedSpool `json:"spools,omitempty"`
}

// EncodeRestoreBatchPayload writes a batch in its stored form (batchWire). It is not a
// MarshalJSON method: encoding/json scans a MarshalJSON's output again, which cost as much as
// the encoding itself.
func EncodeRestoreBatchPayload(p RestoreBatchPayload) ([]byte, error) {
	w := batchWire{RunID: p.RunID, Trigger: p.Trigger, SnapshotAt: p.SnapshotAt,
		Tags: make([]string, len(p.Spools)), Holders: make([]string, len(p.Spools)),
		WorkerIDs: make([]int, len(p.Spools)), OccupiedMs: make([]int64, len(p.Spools)), Rows: make([]int, len(p.Spools))}
	for i, s := range p.Spools {
		w.Tags[i], w.Holders[i], w.WorkerIDs[i], w.OccupiedMs[i], w.Rows[i] = s.Tag, s.Holder, s.WorkerID, s.OccupiedAt.UnixMilli(), s.Row
	}
	return json.Marshal(w)
}

// decodeBatch reads either form of a batch (batchWire). Arrays of different lengths are an
// error: a spool would be restored with another spool's holder or time.
func decodeBatch(b []byte, p *RestoreBatchPayload) error {
	var w batchWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = RestoreBatchPayload{RunID: w.RunID, Trigger: w.Trigger, SnapshotAt: w.SnapshotAt, Spools: w.Spools}
	n := len(w.Tags)
	if len(w.Spools) > 0 {
		if n > 0 {
			return errors.New("both spools and tags: one form only")
		}
		return nil
	}
	if len(w.Holders) != n || len(w.WorkerIDs) != n || len(w.OccupiedMs) != n || len(w.Rows) != n {
		return fmt.Errorf("spool arrays of different lengths: %d tags, %d holders, %d worker ids, %d times, %d rows",
			n, len(w.Holders), len(w.WorkerIDs), len(w.OccupiedMs), len(w.Rows))
	}
	p.Spools = make([]BatchedSpool, n)
	for i := range n {
		p.Spools[i] = BatchedSpool{Tag: w.Tags[i], Holder: w.Holders[i], WorkerID: w.WorkerIDs[i],
			OccupiedAt: time.UnixMilli(w.OccupiedMs[i]), Row: w.Rows[i]}
	}
	return nil
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
