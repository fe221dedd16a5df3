package redislock

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/google/uuid"

	"reconciler/jobs"
)

//go:embed delete_lock.lua
var deleteLockSource string

//go:embed lock_holds.lua
var lockHoldsSource string

// deleteLockScript compares and deletes a lock with its restore marker and orphan sighting,
// so a lock re-taken (or changed) after it was read is never deleted by mistake, and no
// bookkeeping outlives the lock it was about; it appends its history entry in the same step.
var deleteLockScript = historyScript(lockHoldsSource + "\n" + deleteLockSource)

// DeleteLock deletes the lock of tag only while it still holds exactly value, together with
// the tag's restore marker and orphan sighting (a retraction or an orphan release), and
// appends action (jobs.ActionRetracted, jobs.ActionReleased, ...) with the note's run, trigger
// and detail to the history in the same step. It reports whether it deleted the lock. The
// deletion is seen by no keyspace watcher as a release (the key is renamed away, then
// deleted): the worker's own deletions leave no tombstone.
func (s *Store) DeleteLock(ctx context.Context, tag, value, action string, note jobs.HistoryNote) (bool, error) {
	keys := []string{s.Key(tag), RestoredKey, OrphansKey, DeletingKey(tag), HistoryKey,
		RestoredPreviousKey, LegacyRestoredKey(tag)}
	args := append([]any{value, tag, action, note.Detail}, s.historyArgs(note.RunID, note.Trigger)...)
	n, err := deleteLockScript.Run(ctx, s.client, keys, args...).Int64()
	if err != nil {
		return false, fmt.Errorf("redislock: delete lock %q if unchanged: %w", tag, err)
	}
	return n == 1, nil
}

//go:embed replace_lock.lua
var replaceLockSource string

// replaceLockScript compares and sets a lock to another occupation's value, with its restore
// marker (markers.lua), in one step (see ReplaceLock).
var replaceLockScript = historyScript(lockHoldsSource + "\n" + markersSource + "\n" + replaceLockSource)

// ReplaceLock swaps the lock of req.Tag for a fresh lock of req's worker and occupation time
// (the backend's format, a new uuid4, persistent) only while the key still holds old, writing
// the new value's restore marker (TTL RestoredMarkerTTL(req.Settle)) and dropping the tag's
// orphan sighting in the same step. The key is never empty. It returns the value written and
// whether it swapped.
func (s *Store) ReplaceLock(ctx context.Context, old string, req jobs.RestoreRequest, note jobs.HistoryNote) (string, bool, error) {
	value := FormatValue(req.WorkerID, uuid.New(), req.OccupiedAt, s.loc)
	keys := []string{s.Key(req.Tag), RestoredKey, OrphansKey, HistoryKey, RestoredPreviousKey, LegacyRestoredKey(req.Tag)}
	args := append([]any{old, value, RestoredMarkerTTL(req.Settle).Milliseconds(), req.Tag, note.Detail},
		s.historyArgs(note.RunID, note.Trigger)...)
	n, err := replaceLockScript.Run(ctx, s.client, keys, args...).Int64()
	if err != nil {
		return "", false, fmt.Errorf("redislock: replace lock %q if unchanged: %w", req.Tag, err)
	}
	if n != 1 {
		return "", false, nil
	}
	return value, true, nil
}
