package redislock

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// mgetChunk bounds the keys of one MGET, so no single command blocks the server for long or
// builds a huge reply; the chunks still travel together in one pipeline.
const mgetChunk = 1000

// scanCount is the COUNT hint of each SCAN step: SCAN walks every key of the database (asynq's
// retained tasks included), so a large step saves round trips; 10,000 keys is still a few
// milliseconds of server time per step.
const scanCount = 10000

// Locks returns the current locks of tags, parsed with ParseValue; tags without a lock key (or
// whose key is not a string) are absent. All MGET chunks go in one pipeline: one network round
// trip however many tags. Duplicate tags are read once.
func (s *Store) Locks(ctx context.Context, tags []string) (map[string]jobs.Lock, error) {
	seen := make(map[string]struct{}, len(tags))
	keys := make([]string, 0, len(tags))
	for _, tag := range tags {
		if _, dup := seen[tag]; dup {
			continue
		}
		seen[tag] = struct{}{}
		keys = append(keys, s.Key(tag))
	}
	values, err := s.mget(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redislock: read %d locks: %w", len(keys), err)
	}
	return s.parseLocks(values), nil
}

// CountLocks counts the lock keys: the SCAN of AllLocks without reading any value (a targeted
// run judging an empty sheet with nothing accepted needs how many locks there are, not what
// they hold). Keys of another type are counted too; that errs on the side of writing nothing.
func (s *Store) CountLocks(ctx context.Context) (int, error) {
	keys, err := s.scanKeys(ctx)
	if err != nil {
		return 0, err
	}
	return len(keys), nil
}

// AllLocks returns every lock key's lock (for the orphan report): a SCAN of the prefix, then
// the values in one pipelined MGET round trip. A key deleted between the SCAN and the MGET is
// simply absent, as is a lock key that does not hold a string. ctx is checked between SCAN
// steps, so a deadline stops a long scan.
func (s *Store) AllLocks(ctx context.Context) (map[string]jobs.Lock, error) {
	keys, err := s.scanKeys(ctx)
	if err != nil {
		return nil, err
	}
	values, err := s.mget(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redislock: read %d scanned locks: %w", len(keys), err)
	}
	return s.parseLocks(values), nil
}

// scanKeys returns every lock key once. ctx is checked between SCAN steps.
func (s *Store) scanKeys(ctx context.Context) ([]string, error) {
	pattern := s.keysPattern()
	seen := make(map[string]struct{})
	var keys []string
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("redislock: scan %q: %w", pattern, err)
		}
		batch, next, err := s.client.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return nil, fmt.Errorf("redislock: scan %q: %w", pattern, err)
		}
		for _, k := range batch {
			// SCAN may return a key more than once.
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
		cursor = next
		if cursor == 0 {
			return keys, nil
		}
	}
}

// mget returns the string values of the present keys among keys, sending MGETs of at most
// mgetChunk keys each, all in one pipeline. No keys: no round trip.
func (s *Store) mget(ctx context.Context, keys []string) (map[string]string, error) {
	out := make(map[string]string)
	if len(keys) == 0 {
		return out, nil
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.SliceCmd, 0, (len(keys)+mgetChunk-1)/mgetChunk)
	chunks := make([][]string, 0, cap(cmds))
	for start := 0; start < len(keys); start += mgetChunk {
		chunk := keys[start:min(start+mgetChunk, len(keys))]
		chunks = append(chunks, chunk)
		cmds = append(cmds, pipe.MGet(ctx, chunk...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	for i, cmd := range cmds {
		vals := cmd.Val()
		if len(vals) != len(chunks[i]) {
			return nil, fmt.Errorf("MGET of %d keys answered %d values", len(chunks[i]), len(vals))
		}
		for j, v := range vals {
			// nil: absent, or not a string (MGET answers nil for other types).
			if str, ok := v.(string); ok {
				out[chunks[i][j]] = str
			}
		}
	}
	return out, nil
}

// parseLocks turns key → value into tag → Lock.
func (s *Store) parseLocks(values map[string]string) map[string]jobs.Lock {
	locks := make(map[string]jobs.Lock, len(values))
	for key, v := range values {
		if tag, ok := s.TagOf(key); ok {
			locks[tag] = ParseValue(v, s.loc)
		}
	}
	return locks
}
