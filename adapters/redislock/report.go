package redislock

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ReportKey holds the JSON report of the last reconcile, for /readyz and operators.
const ReportKey = "reconciler:last_report"

// SaveReport replaces the last report (persistent: it must survive until the next run, however
// far away).
func (s *Store) SaveReport(ctx context.Context, report []byte) error {
	if err := s.client.Set(ctx, ReportKey, report, 0).Err(); err != nil {
		return fmt.Errorf("redislock: save last report: %w", err)
	}
	return nil
}

// LastReport returns the last saved report, or nil and no error when there is none.
func (s *Store) LastReport(ctx context.Context) ([]byte, error) {
	b, err := s.client.Get(ctx, ReportKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redislock: read last report: %w", err)
	}
	return b, nil
}
