package redislock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

var _ jobs.SpoolReader = (*Store)(nil)

// SpoolState reads what Redis holds about one spool (explain): the lock and its TTL, the orphan
// sighting, the release tombstone and the restore marker (the newest of its places, absent when
// older than the marker TTL: see Markers), in one pipelined round trip of read commands. It
// writes nothing. A lock key of another type is shown as "(a TYPE)"; unreadable
// bookkeeping is left out, as the worker itself ignores it.
func (s *Store) SpoolState(ctx context.Context, tag string) (jobs.SpoolState, error) {
	pipe := s.client.Pipeline()
	kind := pipe.Type(ctx, s.Key(tag))
	lock := pipe.Get(ctx, s.Key(tag))
	pttl := pipe.PTTL(ctx, s.Key(tag))
	sighting := pipe.HGet(ctx, OrphansKey, tag)
	tomb := pipe.Get(ctx, TombstoneKey(tag))
	now := pipe.Time(ctx)
	markers := [markerSources]*redis.StringCmd{pipe.HGet(ctx, RestoredKey, tag),
		pipe.HGet(ctx, RestoredPreviousKey, tag), pipe.Get(ctx, LegacyRestoredKey(tag))}
	_, _ = pipe.Exec(ctx)
	for _, c := range []redis.Cmder{kind, pttl, now} {
		if err := c.Err(); err != nil {
			return jobs.SpoolState{}, fmt.Errorf("redislock: read spool %q: %w", tag, err)
		}
	}
	var st jobs.SpoolState
	switch k := kind.Val(); k {
	case "none":
	case "string":
		if v, err := lock.Result(); err == nil {
			l := ParseValue(v, s.loc)
			st.Lock = &l
		}
	default:
		st.Lock = &jobs.Lock{Value: "(a " + k + ")"}
	}
	st.TTL = -1
	if d := pttl.Val(); d > 0 {
		st.TTL = d
	}
	if v, err := sighting.Result(); err == nil {
		if at, value, ok := decodeStamped(v); ok {
			st.Sighting = &jobs.OrphanSighting{Value: value, FirstSeen: at}
		}
	} else if !errors.Is(err, redis.Nil) && !isWrongType(err) {
		return jobs.SpoolState{}, fmt.Errorf("redislock: read spool %q's orphan sighting: %w", tag, err)
	}
	if v, err := tomb.Result(); err == nil {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			t := time.UnixMilli(ms)
			st.Tombstone = &t
		}
	}
	var raws [markerSources]string
	for i, c := range markers {
		raws[i] = c.Val() // "" when absent or of another type
	}
	if m, ok := pickMarker(now.Val(), s.markerTTL, raws); ok {
		st.Marker = &m
	}
	return st, nil
}

func isWrongType(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") }
