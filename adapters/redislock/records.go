package redislock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The worker's own coordination records. They live here, with every other `reconciler:*` key,
// so one file says what the reconciler keeps in Redis; the worker reaches them through small
// interfaces of its own.
const (
	// PendingKey marks that a full reconcile is queued and has not started reading yet: an
	// automatic trigger that finds it set is covered by that run.
	PendingKey = "reconciler:pending:full"
	// SentinelKey holds the run_id of the Redis server the workers last saw. It vanishes when
	// Redis restarts empty, is flushed or evicts it: nothing emits an event for that.
	SentinelKey = "reconciler:sentinel"
	// SheetsReadsPrefix starts the per-minute counters of the Sheets read budget
	// (SHEETS_MAX_READS_PER_MINUTE, across replicas): `reconciler:sheets_reads:{unix seconds of the minute's start}`.
	SheetsReadsPrefix = "reconciler:sheets_reads:"
	// AsynqQueuesKey is asynq's queue registry (not ours, named here so the worker need not
	// know asynq's layout): a Redis that restarted empty lost it, and asynqmon lists only
	// registered queues.
	AsynqQueuesKey = "asynq:queues"
)

// AsynqTaskKey is asynq's key of a task's hash (internal/base.TaskKey in asynq v0.26); the
// worker's TestLeftoverTaskHash fails if asynq stores tasks elsewhere.
func AsynqTaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// SheetsReadsKey is the budget counter of the minute that starts at window.
func SheetsReadsKey(window time.Time) string {
	return SheetsReadsPrefix + strconv.FormatInt(window.Unix(), 10)
}

// MarkPending sets the pending mark to trigger unless it is set; true when this call set it.
// The TTL bounds a mark whose run never started (a queue lost with Redis).
func (s *Store) MarkPending(ctx context.Context, trigger string, ttl time.Duration) (bool, error) {
	ok, err := s.client.SetNX(ctx, PendingKey, trigger, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redislock: mark a pending %s reconcile: %w", trigger, err)
	}
	return ok, nil
}

// ClearPending removes the pending mark (a full reconcile started reading, or its enqueue
// failed).
func (s *Store) ClearPending(ctx context.Context) error {
	if err := s.client.Del(ctx, PendingKey).Err(); err != nil {
		return fmt.Errorf("redislock: clear the pending mark: %w", err)
	}
	return nil
}

// Sentinel returns the run_id stored in the sentinel key, "" when the key is gone.
func (s *Store) Sentinel(ctx context.Context) (string, error) {
	v, err := s.client.Get(ctx, SentinelKey).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redislock: read the sentinel: %w", err)
	}
	return v, nil
}

// SetSentinel stores runID in the sentinel key, without expiry.
func (s *Store) SetSentinel(ctx context.Context, runID string) error {
	if err := s.client.Set(ctx, SentinelKey, runID, 0).Err(); err != nil {
		return fmt.Errorf("redislock: write the sentinel: %w", err)
	}
	return nil
}

// RegisterQueues adds names to asynq's queue registry (idempotent).
func (s *Store) RegisterQueues(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	members := make([]any, len(names))
	for i, n := range names {
		members[i] = n
	}
	if err := s.client.SAdd(ctx, AsynqQueuesKey, members...).Err(); err != nil {
		return fmt.Errorf("redislock: register asynq queues: %w", err)
	}
	return nil
}

// TakeSheetsRead counts one Sheets read in the clock minute of now and says whether it stays
// within perMinute; when it does not, it also says when the next minute starts. A fixed window
// is enough: the point is to keep a storm of triggers from spending the Google quota, not to
// shape traffic precisely.
func (s *Store) TakeSheetsRead(ctx context.Context, perMinute int64, now time.Time) (bool, time.Time, error) {
	window := now.Truncate(time.Minute)
	key := SheetsReadsKey(window)
	var incr *redis.IntCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*time.Minute)
		return nil
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("redislock: count Sheets reads: %w", err)
	}
	if incr.Val() > perMinute {
		return false, window.Add(time.Minute), nil
	}
	return true, time.Time{}, nil
}

// IsLeftoverTask says whether asynq's hash of task id in queue exists without a state: what a
// handler's result write leaves when Redis restarted empty under it (see the worker's queue).
func (s *Store) IsLeftoverTask(ctx context.Context, queue, id string) (bool, error) {
	fields, err := s.client.HKeys(ctx, AsynqTaskKey(queue, id)).Result()
	if err != nil {
		return false, fmt.Errorf("redislock: read task hash %s: %w", id, err)
	}
	if len(fields) == 0 {
		return false, nil
	}
	for _, f := range fields {
		if f == "state" {
			return false, nil
		}
	}
	return true, nil
}

// DeleteLeftoverTask deletes asynq's hash of task id only while it still has no state, so a
// task that asynq wrote meanwhile under the same ID is never touched; true when it deleted.
func (s *Store) DeleteLeftoverTask(ctx context.Context, queue, id string) (bool, error) {
	n, err := deleteLeftoverScript.Run(ctx, s.client, []string{AsynqTaskKey(queue, id)}).Int()
	if err != nil {
		return false, fmt.Errorf("redislock: delete leftover task hash %s: %w", id, err)
	}
	return n == 1, nil
}

var deleteLeftoverScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 and not redis.call('HGET', KEYS[1], 'state') then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
