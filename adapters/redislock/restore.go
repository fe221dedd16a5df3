package redislock

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

//go:embed restore.lua
var restoreSource string

// restoreScript decides and writes in one atomic server-side step, so no other client can
// take, release or re-take the spool between the checks and the write. Run uses EVALSHA and
// falls back to EVAL when the server has not cached the script (after a restart, say).
var restoreScript = redis.NewScript(restoreSource)

// Restore runs the atomic decide-and-write step for one lock (DESIGN.md, "Restoring a lock").
// In order, the script answers:
//  1. already_locked when the lock key exists and its value starts with "{WorkerID}:";
//     holder_mismatch when it exists with anything else (another value, another type).
//     An existing key is never modified, not even its TTL.
//  2. too_old when Now − OccupiedAt > MaxAge (exactly MaxAge is not too old).
//  3. stale_snapshot when Now − SnapshotAt > Staleness.
//  4. recently_released when a tombstone holds T and SnapshotAt < T + Settle. A tombstone
//     that is not a number counts as a release happening now: the restore is refused and the
//     tombstone rewritten to now (with the normal tombstone TTL), so it cannot block forever.
//  5. restored otherwise: SET NX of a new value (fresh uuid4, OccupiedAt in the store's zone),
//     without TTL, and the restore marker RestoredKey(Tag) = "{Now ms}|{value}" with the TTL
//     RestoredMarkerTTL(Settle), so the restore is verified later from a fresh snapshot.
//
// With a RunID the outcome is also added to that run's tally (see AddTally) inside the same
// script: one round trip per restore instead of two, and no decision goes uncounted because a
// second call failed. A tally key that is not a hash of numbers loses the count, never the
// restore.
func (s *Store) Restore(ctx context.Context, req jobs.RestoreRequest) (jobs.RestoreOutcome, error) {
	if err := validateRestore(req); err != nil {
		return "", fmt.Errorf("redislock: restore %q: %w", req.Tag, err)
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("redislock: restore %q: new uuid: %w", req.Tag, err)
	}
	value := FormatValue(req.WorkerID, id, req.OccupiedAt, s.loc)
	keys := []string{s.Key(req.Tag), TombstoneKey(req.Tag), RestoredKey(req.Tag)}
	args := []any{
		value,
		strconv.Itoa(req.WorkerID) + ":",
		req.Now.UnixMilli(),
		req.OccupiedAt.UnixMilli(),
		req.MaxAge.Milliseconds(),
		req.SnapshotAt.UnixMilli(),
		req.Staleness.Milliseconds(),
		req.Settle.Milliseconds(),
		TombstoneTTL.Milliseconds(),
		RestoredMarkerTTL(req.Settle).Milliseconds(),
	}
	if req.RunID != "" {
		keys = append(keys, TallyKey(req.RunID))
		args = append(args, TallyTTL.Milliseconds())
	}
	res, err := restoreScript.Run(ctx, s.client, keys, args...).Text()
	if err != nil {
		return "", fmt.Errorf("redislock: restore %q: %w", req.Tag, err)
	}
	outcome := jobs.RestoreOutcome(res)
	for _, known := range jobs.RestoreOutcomes {
		if outcome == known {
			return outcome, nil
		}
	}
	return "", fmt.Errorf("redislock: restore %q: script answered unknown outcome %q", req.Tag, res)
}

// validateRestore rejects requests that would make the script's arithmetic meaningless.
func validateRestore(req jobs.RestoreRequest) error {
	switch {
	case req.Tag == "":
		return errors.New("empty tag")
	case req.WorkerID <= 0:
		return fmt.Errorf("worker id %d is not positive", req.WorkerID)
	case req.Now.IsZero(), req.OccupiedAt.IsZero(), req.SnapshotAt.IsZero():
		return errors.New("now, occupied-at and snapshot times are required")
	case req.MaxAge < 0, req.Staleness < 0, req.Settle < 0:
		return errors.New("negative max age, staleness or settle")
	}
	return nil
}
