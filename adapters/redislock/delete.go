package redislock

import (
	"context"
	_ "embed"
	"fmt"

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
// bookkeeping outlives the lock it was about; it appends its history entry in the same step.
var deleteLockScript = historyScript(deleteLockSource)

// DeleteLock deletes the lock of tag only while it still holds exactly value, together with
// the tag's restore marker and orphan sighting (a retraction or an orphan release), and
// appends action (jobs.ActionRetracted, jobs.ActionReleased, ...) with the note's run, trigger
// and detail to the history in the same step. It reports whether it deleted the lock.
func (s *Store) DeleteLock(ctx context.Context, tag, value, action string, note jobs.HistoryNote) (bool, error) {
	args := append([]any{value, tag, action, note.Detail}, s.historyArgs(note.RunID, note.Trigger)...)
	n, err := deleteLockScript.Run(ctx, s.client, []string{s.Key(tag), RestoredKey(tag), OrphansKey, HistoryKey}, args...).Int64()
	if err != nil {
		return false, fmt.Errorf("redislock: delete lock %q if unchanged: %w", tag, err)
	}
	return n == 1, nil
}
