package redislock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TallyPrefix starts the key of a run's tally: a hash of counters (outcome → count) that the
// restores a reconcile spawned add to, so `enqueue --wait` can print the final tally.
const TallyPrefix = "reconciler:run:"

// TallyTTL bounds how long a run's tally is kept after its last update.
const TallyTTL = 24 * time.Hour

// TallyKey is the tally key of runID.
func TallyKey(runID string) string { return TallyPrefix + runID }

// AddTally adds n to field of runID's tally and (re)sets the tally's TTL, in one MULTI/EXEC so
// a counter never exists without its expiry.
func (s *Store) AddTally(ctx context.Context, runID, field string, n int64) error {
	if runID == "" {
		return errors.New("redislock: add to tally: empty run id")
	}
	key := TallyKey(runID)
	pipe := s.client.TxPipeline()
	pipe.HIncrBy(ctx, key, field, n)
	pipe.Expire(ctx, key, TallyTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redislock: add %d to %q of run %q: %w", n, field, runID, err)
	}
	return nil
}

// Tally returns runID's counters; an unknown (or expired) run has an empty tally.
func (s *Store) Tally(ctx context.Context, runID string) (map[string]int64, error) {
	raw, err := s.client.HGetAll(ctx, TallyKey(runID)).Result()
	if err != nil {
		return nil, fmt.Errorf("redislock: read tally of run %q: %w", runID, err)
	}
	out := make(map[string]int64, len(raw))
	for field, v := range raw {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redislock: tally of run %q: field %q holds %q, not a number", runID, field, v)
		}
		out[field] = n
	}
	return out, nil
}
