package redislock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DropWatchKey is a list nobody pushes to: workers block on it (BLPOP) so that a connection
// held open notices at once when Redis goes away or restarts, at a cost of one command a
// second while idle. A value pushed to it only wakes the watchers early; it is discarded.
const DropWatchKey = "reconciler:drop-watch"

// WaitOnDropWatch blocks up to d on DropWatchKey. It returns nil when the wait simply timed
// out, and the error when the connection failed (Redis went away).
func (s *Store) WaitOnDropWatch(ctx context.Context, d time.Duration) error {
	err := s.client.BLPop(ctx, d, DropWatchKey).Err()
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	return fmt.Errorf("redislock: wait on the drop watch: %w", err)
}
