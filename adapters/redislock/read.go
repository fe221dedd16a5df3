package redislock

import (
	"context"
	"fmt"
	"sync"

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
// the values in one pipelined round trip, and the TTLs of values not known persistent in
// another (see readAllLocks). A key deleted
// between the SCAN and the read is simply absent, as is a lock key that does not hold a
// string. ctx is checked between SCAN steps, so a deadline stops a long scan.
func (s *Store) AllLocks(ctx context.Context) (map[string]jobs.Lock, error) {
	keys, err := s.scanKeys(ctx)
	if err != nil {
		return nil, err
	}
	locks, err := s.readAllLocks(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redislock: read %d scanned locks: %w", len(keys), err)
	}
	return locks, nil
}

// persistentLocks are the locks the last full read found without a TTL, by key, with their
// values and parsed form. A value is written once with its TTL or without: the backend writes a
// new uuid at every INICIAR (SET NX EX 10, then PERSIST), the worker a new one at every
// restore, and nothing here or in the backend adds a TTL to a key that has none. So a key
// still holding a value seen persistent is persistent still: a full read asks the TTL only of
// values it has not seen so, and parses only those (after the first run, none in the steady
// state, instead of one PTTL and one parse per lock). An EXPIRE typed by hand on an unchanged
// lock is the one thing this misses: that lock reads as persistent until it expires, and is
// then restored as any lost lock.
type persistentLocks struct {
	mu    sync.Mutex
	byKey map[string]knownLock
}

type knownLock struct {
	value string
	lock  jobs.Lock
}

func (p *persistentLocks) get() map[string]knownLock {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byKey
}

// replace makes m the set (a full read's, so it never outgrows the locks there are). m is not
// written after.
func (p *persistentLocks) replace(m map[string]knownLock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byKey = m
}

// readAllLocks is readLocks for a full read: the values first (MGETs, one pipeline), then a
// PTTL only for keys whose value is not known persistent (a second pipeline, none when every
// value is known), and the persistent locks remembered for the next full read.
func (s *Store) readAllLocks(ctx context.Context, keys []string) (map[string]jobs.Lock, error) {
	values, err := s.mgetAligned(ctx, keys)
	if err != nil {
		return nil, err
	}
	prev := s.persistent.get()
	locks := make(map[string]jobs.Lock, len(keys))
	next := make(map[string]knownLock, len(keys))
	var ask []int // indexes into keys
	for i, v := range values {
		str, ok := v.(string)
		if !ok {
			continue // absent, or not a string
		}
		tag, isLock := s.TagOf(keys[i])
		if !isLock {
			continue
		}
		if k, seen := prev[keys[i]]; seen && k.value == str {
			locks[tag] = k.lock
			next[keys[i]] = k
			continue
		}
		ask = append(ask, i)
	}
	if len(ask) > 0 {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.DurationCmd, len(ask))
		for j, i := range ask {
			cmds[j] = pipe.PTTL(ctx, keys[i])
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for j, i := range ask {
			str := values[i].(string)
			tag, _ := s.TagOf(keys[i])
			l := ParseValue(str, s.loc)
			// A key gone between the MGET and its PTTL (-2) reads as persistent, as in
			// readLocks, but is not remembered.
			switch ttl := cmds[j].Val(); {
			case ttl > 0:
				l.TTL = ttl
			case ttl == -1:
				next[keys[i]] = knownLock{value: str, lock: l}
			}
			locks[tag] = l
		}
	}
	s.persistent.replace(next)
	return locks, nil
}

// mgetAligned returns the MGET answers of keys in keys' order (nil: absent or not a string),
// sending MGETs of at most mgetChunk keys each, all in one pipeline. No keys: no round trip.
func (s *Store) mgetAligned(ctx context.Context, keys []string) ([]any, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := s.client.Pipeline()
	values := queueMGets(ctx, pipe, keys)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	return values()
}

// queueMGets queues on pipe the MGETs of keys, at most mgetChunk keys a command; once pipe has
// run, the returned function gives their answers in keys' order (nil: absent or not a string).
func queueMGets(ctx context.Context, pipe redis.Pipeliner, keys []string) func() ([]any, error) {
	cmds := make([]*redis.SliceCmd, 0, (len(keys)+mgetChunk-1)/mgetChunk)
	for start := 0; start < len(keys); start += mgetChunk {
		cmds = append(cmds, pipe.MGet(ctx, keys[start:min(start+mgetChunk, len(keys))]...))
	}
	return func() ([]any, error) {
		out := make([]any, 0, len(keys))
		for i, cmd := range cmds {
			vals := cmd.Val()
			if want := min(mgetChunk, len(keys)-i*mgetChunk); len(vals) != want {
				return nil, fmt.Errorf("MGET of %d keys answered %d values", want, len(vals))
			}
			out = append(out, vals...)
		}
		return out, nil
	}
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

// mget returns the string values of the present keys among keys (mgetAligned as a map).
func (s *Store) mget(ctx context.Context, keys []string) (map[string]string, error) {
	values, err := s.mgetAligned(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(values))
	for i, v := range values {
		// nil: absent, or not a string (MGET answers nil for other types).
		if str, ok := v.(string); ok {
			out[keys[i]] = str
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
	values := queueMGets(ctx, pipe, keys)
	ttls := make([]*redis.DurationCmd, len(keys))
	for i, key := range keys {
		ttls[i] = pipe.PTTL(ctx, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	vals, err := values()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		// nil: absent, or not a string (MGET answers nil for other types).
		str, ok := v.(string)
		tag, isLock := s.TagOf(keys[i])
		if !ok || !isLock {
			continue
		}
		l := ParseValue(str, s.loc)
		if ttl := ttls[i].Val(); ttl > 0 {
			l.TTL = ttl
		}
		locks[tag] = l
	}
	return locks, nil
}
