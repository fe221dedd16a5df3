package redislock

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

//go:embed update_orphans.lua
var updateOrphansSource string

// updateOrphansScript records and forgets sightings in one step, comparing with what is stored
// so that replicas judging the same tags never move a first-seen time forward by accident.
var updateOrphansScript = redis.NewScript(updateOrphansSource)

// OrphanSightings returns the stored sightings of tags (HMGET), or every sighting when tags is
// nil (HGETALL: the hash holds orphans only, so it stays small). Unreadable entries are left
// out; the next judgement of their tag replaces or forgets them.
func (s *Store) OrphanSightings(ctx context.Context, tags []string) (map[string]jobs.OrphanSighting, error) {
	raw := map[string]string{}
	switch {
	case tags == nil:
		all, err := s.client.HGetAll(ctx, OrphansKey).Result()
		if err != nil {
			return nil, fmt.Errorf("redislock: read orphan sightings: %w", err)
		}
		raw = all
	case len(tags) > 0:
		vals, err := s.client.HMGet(ctx, OrphansKey, tags...).Result()
		if err != nil {
			return nil, fmt.Errorf("redislock: read orphan sightings of %d spools: %w", len(tags), err)
		}
		for i, v := range vals {
			if str, ok := v.(string); ok {
				raw[tags[i]] = str
			}
		}
	}
	out := make(map[string]jobs.OrphanSighting, len(raw))
	for tag, v := range raw {
		if at, value, ok := decodeStamped(v); ok {
			out[tag] = jobs.OrphanSighting{Value: value, FirstSeen: at}
		}
	}
	return out, nil
}

// UpdateOrphans records new sightings and forgets stale ones in one atomic script call (none
// when both are empty). See update_orphans.lua for the comparisons.
func (s *Store) UpdateOrphans(ctx context.Context, record, forget map[string]jobs.OrphanSighting) error {
	if len(record)+len(forget) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*(len(record)+len(forget)))
	args = append(args, len(record))
	for tag, o := range record {
		args = append(args, tag, encodeStamped(o.FirstSeen, o.Value))
	}
	for tag, o := range forget {
		args = append(args, tag, encodeStamped(o.FirstSeen, o.Value))
	}
	if err := updateOrphansScript.Run(ctx, s.client, []string{OrphansKey}, args...).Err(); err != nil {
		return fmt.Errorf("redislock: update orphan sightings (%d new, %d forgotten): %w", len(record), len(forget), err)
	}
	return nil
}
