package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// readBudget is SHEETS_MAX_READS_PER_MINUTE across every replica: a counter per clock minute
// in Redis. A fixed window is enough here: the point is to keep a storm of triggers from
// spending the Google quota, not to shape traffic precisely.
type readBudget struct {
	rdb redis.UniversalClient
	max int64
	now func() time.Time
}

const budgetKeyPrefix = "reconciler:sheets_reads:"

func (b *readBudget) Take(ctx context.Context) (bool, time.Time, error) {
	now := b.now()
	window := now.Truncate(time.Minute)
	key := budgetKeyPrefix + strconv.FormatInt(window.Unix(), 10)
	var incr *redis.IntCmd
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*time.Minute)
		return nil
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("count Sheets reads: %w", err)
	}
	if incr.Val() > b.max {
		return false, window.Add(time.Minute), nil
	}
	return true, time.Time{}, nil
}
