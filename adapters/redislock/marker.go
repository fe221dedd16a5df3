package redislock

import (
	"context"
	"fmt"
	"time"

	"reconciler/jobs"
)

// RestoredMarkerMargin is how long a restore marker outlives RELEASE_SETTLE. The verifying
// look comes RELEASE_SETTLE + 1 s after the restore, timed in the process that restored; when
// that process restarts and loses its timer, full reconciles check due markers instead, so the
// margin covers the default 5-minute schedule (and a deferred run) with room to spare.
const RestoredMarkerMargin = 15 * time.Minute

// RestoredMarkerTTL is the TTL of a restore marker for a given RELEASE_SETTLE.
func RestoredMarkerTTL(settle time.Duration) time.Duration { return settle + RestoredMarkerMargin }

// Markers returns the restore markers of tags, in one pipelined round trip (none for no tags).
// A marker that is not "{ms}|{value}" is left out: its TTL removes it.
func (s *Store) Markers(ctx context.Context, tags []string) (map[string]jobs.RestoreMarker, error) {
	keys := make([]string, 0, len(tags))
	for _, tag := range tags {
		keys = append(keys, RestoredKey(tag))
	}
	values, err := s.mget(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redislock: read %d restore markers: %w", len(keys), err)
	}
	out := make(map[string]jobs.RestoreMarker, len(values))
	for key, raw := range values {
		at, value, ok := decodeStamped(raw)
		if !ok {
			continue
		}
		out[key[len(RestoredPrefix):]] = jobs.RestoreMarker{Value: value, At: at}
	}
	return out, nil
}

// DropMarker deletes tag's restore marker while it is still m: the restore was verified (or its
// lock is gone). A marker rewritten meanwhile by a newer restore stays.
func (s *Store) DropMarker(ctx context.Context, tag string, m jobs.RestoreMarker) error {
	err := deleteIfValueScript.Run(ctx, s.client, []string{RestoredKey(tag)}, encodeStamped(m.At, m.Value)).Err()
	if err != nil {
		return fmt.Errorf("redislock: drop restore marker of %q: %w", tag, err)
	}
	return nil
}
