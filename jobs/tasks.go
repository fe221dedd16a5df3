package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeReconcile = "reconcile:run"
	TypeRestore   = "lock:restore"
	// TypeRestoreBatch restores many spools of one run in one task (a run that found more than
	// MaxSingleRestores locks missing: Redis came back empty).
	TypeRestoreBatch = "lock:restore-batch"
)

// MaxSingleRestores is the most missing locks a run queues as one lock:restore task each
// (asynqmon shows each spool); a run with more queues lock:restore-batch tasks of at most
// RestoreBatchSize spools, one script call each.
const (
	MaxSingleRestores = 32
	RestoreBatchSize  = 500
)

// Queues. Restores get more weight so a large recovery is not starved by reconciles.
const (
	QueueReconcile = "reconcile"
	QueueRestore   = "restore"
)

// Queues is the asynq queue configuration (name → priority weight). asynq tries the queues in a
// weighted random order on every dequeue, and trying an empty queue first costs a script call:
// during a recovery the reconcile queue is empty, so its weight is the share of restores that
// pay for a wasted call (1 in 10 here). A queued reconcile is still tried first on one dequeue
// in ten, a few milliseconds into a storm of restores.
var Queues = map[string]int{QueueRestore: 9, QueueReconcile: 1}

// Triggers: why a reconcile runs.
const (
	TriggerBoot         = "boot"
	TriggerSchedule     = "schedule"
	TriggerKeyspace     = "keyspace"
	TriggerRedisRestart = "redis-restart"
	TriggerManual       = "manual"
	// TriggerStaleRestore: a restore found its snapshot older than RESTORE_MAX_STALENESS (it
	// waited in the queue, or was taken back from a worker that died), so that spool gets one
	// fresh look instead of waiting for the schedule.
	TriggerStaleRestore = "stale-restore"
	// TriggerRedisBack: Redis was unreachable and answers again; the backend wrote the sheet
	// only (degraded mode) meanwhile, so those spools have no lock.
	TriggerRedisBack = "redis-back"
	// TriggerVerify: RELEASE_SETTLE + 1 s after restores, the restored spools are looked at
	// again from a fresh snapshot (a restore from a stale sheet is taken back).
	TriggerVerify = "verify"
	// TriggerOrphan: an orphan lock's first-seen time + ORPHAN_GRACE has come.
	TriggerOrphan = "orphan"
	// TriggerExpiring: a lock with a TTL on a taken spool has reached its TTL's end (+ 1 s).
	TriggerExpiring = "ttl-end"
)

// ResultRetention is how long finished tasks and their results stay visible in asynqmon.
const ResultRetention = 24 * time.Hour

// ReconcilePayload is the payload of reconcile:run.
type ReconcilePayload struct {
	Trigger     string    `json:"trigger"`
	Spools      []string  `json:"spools,omitempty"` // empty: the whole sheet
	DryRun      bool      `json:"dry_run,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
}

// RestorePayload is the payload of lock:restore.
type RestorePayload struct {
	Tag        string    `json:"tag"`
	Holder     string    `json:"holder"`
	WorkerID   int       `json:"worker_id"`
	OccupiedAt time.Time `json:"occupied_at"`
	SnapshotAt time.Time `json:"snapshot_at"`
	Row        int       `json:"row"`
	RunID      string    `json:"run_id"`
	Trigger    string    `json:"trigger"`
}

// RestoreResult is the result of lock:restore.
type RestoreResult struct {
	Tag     string         `json:"tag"`
	Outcome RestoreOutcome `json:"outcome"`
	RunID   string         `json:"run_id"`
}

// Tasks makes every task the worker queues: deadlines, queues, retention and retries are set
// here, once (cmd builds the value from the configuration), and nowhere else.
type Tasks struct {
	ReconcileDeadline time.Duration // RECONCILE_DEADLINE
	RestoreDeadline   time.Duration // RESTORE_DEADLINE
}

// DefaultTasks has the configuration's default deadlines.
var DefaultTasks = Tasks{ReconcileDeadline: 10 * time.Second, RestoreDeadline: 5 * time.Second}

// Reconcile builds a reconcile:run task. The deadline is a Timeout (whole seconds, at least 1:
// asynq turns anything shorter into 30 minutes), so it also holds for tasks registered with
// the scheduler. opts come after the defaults (a TaskID, a Group, ProcessAt).
func (t Tasks) Reconcile(p ReconcilePayload, opts ...asynq.Option) (*asynq.Task, error) {
	if p.RequestedAt.IsZero() {
		p.RequestedAt = time.Now()
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode reconcile payload: %w", err)
	}
	base := []asynq.Option{
		asynq.Queue(QueueReconcile), asynq.Timeout(wholeSeconds(t.reconcileDeadline())),
		asynq.Retention(ResultRetention), asynq.MaxRetry(5),
	}
	return asynq.NewTask(TypeReconcile, body, append(base, opts...)...), nil
}

// Restore builds the lock:restore task for one candidate, with its TaskID.
func (t Tasks) Restore(p RestorePayload, missingDate bool) (*asynq.Task, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode restore payload of %q: %w", p.Tag, err)
	}
	return asynq.NewTask(TypeRestore, body,
		asynq.Queue(QueueRestore), asynq.TaskID(RestoreTaskID(p, missingDate)),
		asynq.Timeout(wholeSeconds(t.restoreDeadline())), asynq.Retention(ResultRetention), asynq.MaxRetry(3),
	), nil
}

// RestoreBatch builds the lock:restore-batch task for some spools of one run. Its TaskID is
// the run id plus a hash of the spools' restore ids (ids[i] is RestoreTaskID of
// p.Spools[i]): the same run queueing the same batch again (its retry) finds it queued, and a
// later run is never blocked by a batch still held by a dead worker.
func (t Tasks) RestoreBatch(p RestoreBatchPayload, ids []string) (*asynq.Task, error) {
	body, err := EncodeRestoreBatchPayload(p)
	if err != nil {
		return nil, fmt.Errorf("encode restore batch of run %q: %w", p.RunID, err)
	}
	return asynq.NewTask(TypeRestoreBatch, body,
		asynq.Queue(QueueRestore), asynq.TaskID(RestoreBatchTaskID(p.RunID, ids)),
		asynq.Timeout(wholeSeconds(t.restoreDeadline())), asynq.Retention(ResultRetention), asynq.MaxRetry(3),
	), nil
}

// RestoreBatchTaskID is the run id plus a hash of the batch's restore ids, in order.
func RestoreBatchTaskID(runID string, ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return "restore-batch:" + runID + ":" + hex.EncodeToString(h.Sum(nil)[:12])
}

func (t Tasks) reconcileDeadline() time.Duration {
	if t.ReconcileDeadline > 0 {
		return t.ReconcileDeadline
	}
	return DefaultTasks.ReconcileDeadline
}

func (t Tasks) restoreDeadline() time.Duration {
	if t.RestoreDeadline > 0 {
		return t.RestoreDeadline
	}
	return DefaultTasks.RestoreDeadline
}

// RestoreTaskID is derived from tag + holder + occupation time, so two reconciles that see the
// same occupation queue one restore. A row without a date is stamped with "now", which differs
// per run, so its ID uses a fixed marker instead of the time.
func RestoreTaskID(p RestorePayload, missingDate bool) string {
	at := "no-date"
	if !missingDate {
		at = strconv.FormatInt(p.OccupiedAt.Unix(), 10)
	}
	sum := sha256.Sum256([]byte(p.Tag + "\x00" + p.Holder + "\x00" + at))
	return "restore:" + hex.EncodeToString(sum[:12])
}

// BootTaskID deduplicates boot reconciles across restarts and replicas: one per 60s slot.
func BootTaskID(now time.Time) string {
	return "reconcile:boot:" + strconv.FormatInt(now.Unix()/60, 10)
}

// DeferredTaskID names the one reconcile queued for a budget window, however many runs were
// deferred into it; deferred dry runs get their own (one dry run per window), so a dry run is
// never merged into a real one, nor a real one into a dry one.
func DeferredTaskID(at time.Time, dryRun bool) string {
	kind := "deferred"
	if dryRun {
		kind = "deferred-dry-run"
	}
	return "reconcile:" + kind + ":" + strconv.FormatInt(at.Unix(), 10)
}

func wholeSeconds(d time.Duration) time.Duration {
	s := d.Round(time.Second)
	if s < time.Second {
		s = time.Second
	}
	return s
}

// DecodeReconcilePayload reads a reconcile:run payload.
func DecodeReconcilePayload(b []byte) (ReconcilePayload, error) {
	var p ReconcilePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode reconcile payload: %w", err)
	}
	return p, nil
}

// DecodeRestorePayload reads a lock:restore payload.
func DecodeRestorePayload(b []byte) (RestorePayload, error) {
	var p RestorePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode restore payload: %w", err)
	}
	return p, nil
}

// DecodeRestoreBatchPayload reads a lock:restore-batch payload.
func DecodeRestoreBatchPayload(b []byte) (RestoreBatchPayload, error) {
	var p RestoreBatchPayload
	if err := decodeBatch(b, &p); err != nil {
		return p, fmt.Errorf("decode restore batch payload: %w", err)
	}
	return p, nil
}
