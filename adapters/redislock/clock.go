package redislock

import (
	"context"
	"fmt"
	"time"

	"reconciler/jobs"
)

var _ jobs.Clock = (*Store)(nil)

// Now is Redis's clock (TIME): the one clock every replica reads, whatever its own clock says.
// The scripts take "now" from the same TIME, so a snapshot stamped with it, a tombstone and a
// restore's decision are all on one clock (docs/design.md, "Restoring a lock"). It writes nothing.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	t, err := s.client.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("redislock: read Redis TIME: %w", err)
	}
	return t, nil
}
