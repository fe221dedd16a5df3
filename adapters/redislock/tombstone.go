package redislock

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// TombstoneTTL is how long a release tombstone lives at least: far longer than the default
// RELEASE_SETTLE, short enough that released spools leave no permanent trace. A longer settle
// gets a longer TTL (see TombstoneTTLFor).
const TombstoneTTL = 10 * time.Minute

// TombstoneTTLFor is the tombstone TTL for a RELEASE_SETTLE and RESTORE_MAX_STALENESS: a
// restore may act on a snapshot up to staleness old, and refuses while that snapshot is before
// release + settle, so the tombstone must outlive release + settle + staleness. A minute more
// covers the time between the DEL and the watcher stamping it. Never less than TombstoneTTL.
func TombstoneTTLFor(settle, staleness time.Duration) time.Duration {
	return max(TombstoneTTL, settle+staleness+time.Minute)
}

//go:embed write_tombstone.lua
var writeTombstoneSource string

// writeTombstoneScript stamps the release with Redis TIME and keeps the later of the stored and
// the new time in one step, so two watchers (replicas) reporting the same DELs in any order end
// with the latest.
// A tombstone written is appended to the history (`release_seen`) in the same step.
var writeTombstoneScript = historyScript(writeTombstoneSource)

//go:embed clear_tombstone.lua
var clearTombstoneSource string

// clearTombstoneScript compares and deletes in one step (see ClearTombstone).
var clearTombstoneScript = redis.NewScript(clearTombstoneSource)

// WriteTombstone records that the lock of tag was released now, by Redis's clock (TIME, unix
// ms, with the store's tombstone TTL), unless a tombstone with a later time is already there.
// Restores whose snapshot predates that time + RELEASE_SETTLE are then refused (docs/design.md,
// "The release race"). The watcher's own clock plays no part: replicas agree whatever theirs say.
func (s *Store) WriteTombstone(ctx context.Context, tag string) error {
	err := writeTombstoneScript.Run(ctx, s.client, []string{TombstoneKey(tag), HistoryKey},
		s.tombTTL.Milliseconds(), tag, s.historyMax).Err()
	if err != nil {
		return fmt.Errorf("redislock: write tombstone of %q: %w", tag, err)
	}
	return nil
}

// ClearTombstone removes the tombstone of tag when the spool was taken again (a `set` of its
// lock key), so a lock lost from then on is restored at once, not after the settle window; but
// only while the lock key exists, in one atomic step. Keyspace notifications carry no time, so
// "the tombstone is older than the set" is read from Redis: while the key exists, no DEL has
// come after its current set, so any tombstone is of an earlier release. A replica that
// handles a set late, after a later DEL, finds the key gone and leaves that DEL's tombstone
// alone. It reports whether it removed a tombstone.
func (s *Store) ClearTombstone(ctx context.Context, tag string) (bool, error) {
	n, err := clearTombstoneScript.Run(ctx, s.client, []string{TombstoneKey(tag), s.Key(tag)}).Int()
	if err != nil {
		return false, fmt.Errorf("redislock: clear tombstone of %q: %w", tag, err)
	}
	return n == 1, nil
}
