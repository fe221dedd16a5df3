package redislock

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

//go:embed delete_if_value.lua
var deleteIfValueSource string

// deleteIfValueScript compares and deletes one string key atomically (restore markers).
var deleteIfValueScript = redis.NewScript(deleteIfValueSource)

//go:embed delete_lock.lua
var deleteLockSource string

// deleteLockScript compares and deletes a lock with its restore marker and orphan sighting,
// so a lock re-taken (or changed) after it was read is never deleted by mistake, and no
// bookkeeping outlives the lock it was about.
var deleteLockScript = redis.NewScript(deleteLockSource)

// DeleteLock deletes the lock of tag only while it still holds exactly value, together with
// the tag's restore marker and orphan sighting (a retraction or an orphan release). It reports
// whether it deleted the lock. The deletion is seen by no keyspace watcher as a release (the key
// is renamed away, then deleted): the worker's own deletions leave no tombstone.
func (s *Store) DeleteLock(ctx context.Context, tag, value string) (bool, error) {
	keys := []string{s.Key(tag), RestoredKey(tag), OrphansKey, DeletingKey(tag)}
	n, err := deleteLockScript.Run(ctx, s.client, keys, value, tag).Int64()
	if err != nil {
		return false, fmt.Errorf("redislock: delete lock %q if unchanged: %w", tag, err)
	}
	return n == 1, nil
}

//go:embed replace_lock.lua
var replaceLockSource string

// replaceLockScript compares and sets a lock to another occupation's value, with its restore
// marker, in one step (see ReplaceLock).
var replaceLockScript = redis.NewScript(replaceLockSource)

// ReplaceLock swaps the lock of req.Tag for a fresh lock of req's worker and occupation time
// (the backend's format, a new uuid4, persistent) only while the key still holds old, writing
// the new value's restore marker (TTL RestoredMarkerTTL(req.Settle)) and dropping the tag's
// orphan sighting in the same step. The key is never empty. It returns the value written and
// whether it swapped.
func (s *Store) ReplaceLock(ctx context.Context, old string, req jobs.RestoreRequest) (string, bool, error) {
	value := FormatValue(req.WorkerID, uuid.New(), req.OccupiedAt, s.loc)
	keys := []string{s.Key(req.Tag), RestoredKey(req.Tag), OrphansKey}
	n, err := replaceLockScript.Run(ctx, s.client, keys, old, value,
		RestoredMarkerTTL(req.Settle).Milliseconds(), req.Tag).Int64()
	if err != nil {
		return "", false, fmt.Errorf("redislock: replace lock %q if unchanged: %w", req.Tag, err)
	}
	if n != 1 {
		return "", false, nil
	}
	return value, true, nil
}
