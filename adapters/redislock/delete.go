package redislock

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

//go:embed delete_if_value.lua
var deleteIfValueSource string

// deleteIfValueScript compares and deletes atomically, so a lock re-taken (or changed) after
// it was read is never deleted by mistake.
var deleteIfValueScript = redis.NewScript(deleteIfValueSource)

// DeleteIfValue deletes the lock of tag only while it still holds exactly value (used by the
// orphan cleanup). It reports whether it deleted.
func (s *Store) DeleteIfValue(ctx context.Context, tag, value string) (bool, error) {
	n, err := deleteIfValueScript.Run(ctx, s.client, []string{s.Key(tag)}, value).Int64()
	if err != nil {
		return false, fmt.Errorf("redislock: delete lock %q if unchanged: %w", tag, err)
	}
	return n == 1, nil
}
