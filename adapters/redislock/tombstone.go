package redislock

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// TombstoneTTL is how long a release tombstone lives: far longer than any sensible
// RELEASE_SETTLE, short enough that released spools leave no permanent trace.
const TombstoneTTL = 10 * time.Minute

//go:embed write_tombstone.lua
var writeTombstoneSource string

// writeTombstoneScript keeps the later of the stored and the new release time in one step,
// so two watchers (replicas) reporting the same DELs in any order end with the latest.
var writeTombstoneScript = redis.NewScript(writeTombstoneSource)

// WriteTombstone records that the lock of tag was released at at (unix ms, TTL TombstoneTTL),
// unless a tombstone with a later time is already there. Restores whose snapshot predates
// at + RELEASE_SETTLE are then refused (docs/design.md, "The release race").
func (s *Store) WriteTombstone(ctx context.Context, tag string, at time.Time) error {
	err := writeTombstoneScript.Run(ctx, s.client, []string{TombstoneKey(tag)},
		at.UnixMilli(), TombstoneTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redislock: write tombstone of %q: %w", tag, err)
	}
	return nil
}

// ClearTombstone removes the tombstone of tag: the spool was taken again, so a lock lost from
// now on must be restored at once, not after the settle window.
func (s *Store) ClearTombstone(ctx context.Context, tag string) error {
	if err := s.client.Del(ctx, TombstoneKey(tag)).Err(); err != nil {
		return fmt.Errorf("redislock: clear tombstone of %q: %w", tag, err)
	}
	return nil
}
