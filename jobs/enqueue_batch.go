package jobs

import (
	"context"
	"strings"
)

// restoreUnit is one task of a run's restores: a lock:restore (locks 1) or a
// lock:restore-batch.
type restoreUnit struct {
	locks   int
	enqueue func(ctx context.Context) (enqueueResult, error)
}

// restoreUnits splits a run's restores into tasks: one per spool up to MaxSingleRestores (the
// everyday case: asynqmon shows each spool), batches of up to RestoreBatchSize spools beyond
// (Redis came back empty: one script call restores a batch, not one task per lock).
func (r *Reconciler) restoreUnits(restores []Classified, rep *Report) []restoreUnit {
	if len(restores) <= MaxSingleRestores {
		units := make([]restoreUnit, len(restores))
		for i, c := range restores {
			units[i] = restoreUnit{locks: 1, enqueue: func(ctx context.Context) (enqueueResult, error) {
				return r.enqueueOne(ctx, c, rep)
			}}
		}
		return units
	}
	var units []restoreUnit
	for start := 0; start < len(restores); start += RestoreBatchSize {
		batch := restores[start:min(start+RestoreBatchSize, len(restores))]
		units = append(units, restoreUnit{locks: len(batch), enqueue: func(ctx context.Context) (enqueueResult, error) {
			return r.enqueueBatch(ctx, batch, rep)
		}})
	}
	return units
}

// enqueueBatch queues one lock:restore-batch. Its TaskID is taken only by the same run's same
// batch (a retry of the run), so a conflict means it is on its way, as for a single restore.
func (r *Reconciler) enqueueBatch(ctx context.Context, batch []Classified, rep *Report) (enqueueResult, error) {
	p := RestoreBatchPayload{RunID: rep.RunID, Trigger: rep.Trigger, SnapshotAt: rep.SnapshotAt,
		Spools: make([]BatchedSpool, len(batch))}
	ids := make([]string, len(batch))
	for i, c := range batch {
		p.Spools[i] = BatchedSpool{Tag: c.Tag, Holder: strings.TrimSpace(c.Holder), WorkerID: c.WorkerID,
			OccupiedAt: c.OccupiedAt, Row: c.Number}
		ids[i] = RestoreTaskID(restorePayload(c, rep), c.Warning == WarnMissingDate)
	}
	task, err := r.Tasks.RestoreBatch(p, ids)
	if err != nil {
		return 0, err
	}
	return enqueueRestore(ctx, r.Queue, task, RestoreBatchTaskID(p.RunID, ids))
}

// restorePayload is the lock:restore payload of one planned restore.
func restorePayload(c Classified, rep *Report) RestorePayload {
	return RestorePayload{
		Tag: c.Tag, Holder: strings.TrimSpace(c.Holder), WorkerID: c.WorkerID,
		OccupiedAt: c.OccupiedAt, SnapshotAt: rep.SnapshotAt, Row: c.Number,
		RunID: rep.RunID, Trigger: rep.Trigger,
	}
}
