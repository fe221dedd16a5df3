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

// Locks returns the current locks of tags, parsed with ParseValue, each with the TTL its key had
// left (0: persistent); tags without a lock key (or whose key is not a string) are absent. All
// chunks go in one pipeline: one network round trip however many tags. Duplicate tags are
// read once.
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
	locks, err := s.readLocks(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redislock: read %d locks: %w", len(keys), err)
	}
	return locks, nil
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
// the values and TTLs in one pipelined round trip (see readLocks). A key deleted
// between the SCAN and the read is simply absent, as is a lock key that does not hold a
// string. ctx is checked between SCAN steps, so a deadline stops a long scan.
func (s *Store) AllLocks(ctx context.Context) (map[string]jobs.Lock, error) {
	keys, err := s.scanKeys(ctx)
	if err != nil {
		return nil, err
	}
	locks, err := s.readLocks(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redislock: read %d scanned locks: %w", len(keys), err)
	}
	return locks, nil
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

// readLocks returns the locks of the present string keys among keys with the TTLs they had
// left (0: persistent): MGETs of at most mgetChunk keys and one PTTL per key, all in one
// pipeline (one round trip). No keys: no round trip. Measured at 20,000 locks on a shared
// 2-core machine under load 5-9 (BenchmarkReadLocks): 40-50 ms against 15-28 ms for the MGETs
// alone, and 60-100 ms for a script doing MGET and a PTTL per key server-side (which also
// holds the server for each chunk). A key deleted between its MGET and its PTTL reads as
// persistent, one set in between as absent: the plan is advisory, every write decides again
// atomically.
func (s *Store) readLocks(ctx context.Context, keys []string) (map[string]jobs.Lock, error) {
	locks := make(map[string]jobs.Lock)
	if len(keys) == 0 {
		return locks, nil
	}
	pipe := s.client.Pipeline()
	gets := make([]*redis.SliceCmd, 0, (len(keys)+mgetChunk-1)/mgetChunk)
	chunks := make([][]string, 0, cap(gets))
	for start := 0; start < len(keys); start += mgetChunk {
		chunk := keys[start:min(start+mgetChunk, len(keys))]
		chunks = append(chunks, chunk)
		gets = append(gets, pipe.MGet(ctx, chunk...))
	}
	ttls := make([]*redis.DurationCmd, len(keys))
	for i, key := range keys {
		ttls[i] = pipe.PTTL(ctx, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	k := 0
	for i, cmd := range gets {
		vals := cmd.Val()
		if len(vals) != len(chunks[i]) {
			return nil, fmt.Errorf("MGET of %d keys answered %d values", len(chunks[i]), len(vals))
		}
		for j, v := range vals {
			ttl := ttls[k].Val()
			k++
			// nil: absent, or not a string (MGET answers nil for other types).
			str, ok := v.(string)
			tag, isLock := s.TagOf(chunks[i][j])
			if !ok || !isLock {
				continue
			}
			l := ParseValue(str, s.loc)
			if ttl > 0 {
				l.TTL = ttl
			}
			locks[tag] = l
		}
	}
	return locks, nil
}
