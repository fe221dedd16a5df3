package redislock

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// RestoredMarkerMargin is how long a restore marker outlives RELEASE_SETTLE. The verifying
// look comes RELEASE_SETTLE + 1 s after the restore, timed in the process that restored; when
// that process restarts and loses its timer, full reconciles check due markers instead, so the
// margin covers the default 5-minute schedule (and a deferred run) with room to spare.
const RestoredMarkerMargin = 15 * time.Minute

// RestoredMarkerTTL is the TTL of a restore marker for a given RELEASE_SETTLE.
func RestoredMarkerTTL(settle time.Duration) time.Duration { return settle + RestoredMarkerMargin }

// DefaultMarkerTTL is the marker TTL of RELEASE_SETTLE's default (60 s): Options.MarkerTTL's
// default.
var DefaultMarkerTTL = RestoredMarkerTTL(time.Minute)

//go:embed markers.lua
var markersSource string

//go:embed drop_marker.lua
var dropMarkerSource string

// dropMarkerScript compares and drops a tag's restore marker in one step (see DropMarker).
var dropMarkerScript = redis.NewScript(dropMarkerSource)

// markerSources are where a tag's restore marker may be: the current generation of the hash,
// the previous one, and the key of earlier versions (see pickMarker).
const markerSources = 3

// Markers returns the restore markers of tags (absent tags are absent from the map), in one
// pipelined round trip (none for no tags): Redis TIME, then HMGETs of both generations of the
// marker hash and MGETs of the keys earlier versions wrote, at most mgetChunk tags a command.
// A tag's marker is the last written of those it has (see pickMarker); one older than the marker TTL
// (Options.MarkerTTL) is absent, as the key per marker used to expire. Unreadable markers are
// left out, and so is a marker hash of another type. It writes nothing.
func (s *Store) Markers(ctx context.Context, tags []string) (map[string]jobs.RestoreMarker, error) {
	out := make(map[string]jobs.RestoreMarker)
	if len(tags) == 0 {
		return out, nil
	}
	pipe := s.client.Pipeline()
	now := pipe.Time(ctx)
	var cmds [][markerSources]*redis.SliceCmd
	for start := 0; start < len(tags); start += mgetChunk {
		chunk := tags[start:min(start+mgetChunk, len(tags))]
		legacy := make([]string, len(chunk))
		for i, tag := range chunk {
			legacy[i] = LegacyRestoredKey(tag)
		}
		cmds = append(cmds, [markerSources]*redis.SliceCmd{
			pipe.HMGet(ctx, RestoredKey, chunk...),
			pipe.HMGet(ctx, RestoredPreviousKey, chunk...),
			pipe.MGet(ctx, legacy...),
		})
	}
	_, _ = pipe.Exec(ctx)
	if err := now.Err(); err != nil {
		return nil, fmt.Errorf("redislock: read %d restore markers: %w", len(tags), err)
	}
	for c, chunk := range cmds {
		first := c * mgetChunk
		var raws [markerSources][]any
		for src, cmd := range chunk {
			vals, err := cmd.Result()
			if isWrongType(err) {
				continue // a marker hash someone replaced by another type holds no marker
			}
			if err != nil {
				return nil, fmt.Errorf("redislock: read %d restore markers: %w", len(tags), err)
			}
			raws[src] = vals
		}
		for i, tag := range tags[first:min(first+mgetChunk, len(tags))] {
			var found [markerSources]string
			for src := range raws {
				if i < len(raws[src]) {
					found[src], _ = raws[src][i].(string)
				}
			}
			if m, ok := pickMarker(now.Val(), s.markerTTL, found); ok {
				out[tag] = m
			}
		}
	}
	return out, nil
}

// pickMarker is a tag's restore marker among what its sources hold ("" where nothing): the one
// a single marker key would hold, the last written. Within the hash that is the current
// generation's, if readable: every field of the previous generation was written before the
// current one was born. Between the hash and the key of an earlier version (a rolling deploy:
// either version may have restored or swapped the lock last) it is the later by its time, the
// hash's on a tie. None when that marker is older than ttl at now (Redis TIME): a key with PX
// ttl set at ms t exists while now ≤ t + ttl, and so does a marker.
func pickMarker(now time.Time, ttl time.Duration, raws [markerSources]string) (jobs.RestoreMarker, bool) {
	var best jobs.RestoreMarker
	found := false
	for i, raw := range raws {
		if raw == "" || (i == 1 && found) { // the previous generation only without a current one
			continue
		}
		at, value, ok := decodeStamped(raw)
		if ok && (!found || at.After(best.At)) {
			best, found = jobs.RestoreMarker{Value: value, At: at}, true
		}
	}
	if !found || now.UnixMilli()-best.At.UnixMilli() > ttl.Milliseconds() {
		return jobs.RestoreMarker{}, false
	}
	return best, true
}

// DropMarker drops tag's restore marker while it is still m: the restore was verified (or its
// lock is gone). A marker rewritten meanwhile by a newer restore stays; the tag's markers that m
// superseded (in the previous generation, or an earlier version's older key) go with it
// (drop_marker.lua).
func (s *Store) DropMarker(ctx context.Context, tag string, m jobs.RestoreMarker) error {
	keys := []string{RestoredKey, RestoredPreviousKey, LegacyRestoredKey(tag)}
	err := dropMarkerScript.Run(ctx, s.client, keys, tag, encodeStamped(m.At, m.Value), m.At.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("redislock: drop restore marker of %q: %w", tag, err)
	}
	return nil
}
