// Package redislock is the lock keyspace in Redis: the backend's key and value formats, the
// atomic restore step (a Lua script), pipelined reads, the keyspace scan, the release
// tombstones and the reconciler's own small records (last report, run tallies).
//
// Every multi-key operation (the restore script reads the lock key and its tombstone, Locks
// sends MGETs of many keys) assumes a single Redis node (standalone or Sentinel, as Railway
// runs it): on Redis Cluster those keys would hash to different slots.
package redislock

import (
	"time"
	// The zone database is embedded so the default TIMEZONE works on hosts (and containers)
	// without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/redis/go-redis/v9"

	"reconciler/jobs"
)

// DefaultPrefix is the backend's LOCK_KEY_PREFIX default.
const DefaultPrefix = "spool_lock:"

// DefaultTimezone is the backend's TIMEZONE default: lock values carry wall-clock times there.
const DefaultTimezone = "America/Santiago"

// Options configures a Store. The zero value means the backend's defaults.
type Options struct {
	// Prefix of lock keys (LOCK_KEY_PREFIX); empty means DefaultPrefix.
	Prefix string
	// Location of the wall-clock timestamps inside lock values (TIMEZONE); nil means
	// DefaultTimezone.
	Location *time.Location
	// TombstoneTTL is how long release tombstones live; zero means TombstoneTTL. Size it from
	// the settings with TombstoneTTLFor, or a RELEASE_SETTLE longer than the TTL is cut short.
	TombstoneTTL time.Duration
	// HistoryMax caps the history stream (HISTORY_MAX, XADD MAXLEN ~); zero means
	// DefaultHistoryMax, negative turns the history off.
	HistoryMax int
	// MarkerTTL is how long a restore marker counts when read: RestoredMarkerTTL of
	// RELEASE_SETTLE, the TTL a restore gives it; zero means DefaultMarkerTTL. A marker older
	// than this is absent (Markers, SpoolState).
	MarkerTTL time.Duration
}

// Store is the lock keyspace on one Redis. It implements jobs.LockStore and is safe for
// concurrent use (its state lives in Redis, but for a memory of persistent lock values and of
// the accepted snapshot that only spares reads).
type Store struct {
	client     redis.UniversalClient
	prefix     string
	loc        *time.Location
	tombTTL    time.Duration
	historyMax int // 0: off
	markerTTL  time.Duration
	persistent *persistentLocks // the last full read's persistent locks (readAllLocks)
	accepted   *acceptedMemory  // the accepted occupations last read or written (Accepted)
}

var _ jobs.LockStore = (*Store)(nil)

// New returns a Store that talks to Redis through client (which it does not close).
func New(client redis.UniversalClient, opts Options) *Store {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	tombTTL := opts.TombstoneTTL
	if tombTTL <= 0 {
		tombTTL = TombstoneTTL
	}
	historyMax := opts.HistoryMax
	switch {
	case historyMax == 0:
		historyMax = DefaultHistoryMax
	case historyMax < 0:
		historyMax = 0
	}
	markerTTL := opts.MarkerTTL
	if markerTTL <= 0 {
		markerTTL = DefaultMarkerTTL
	}
	return &Store{client: client, prefix: prefix, loc: locationOrDefault(opts.Location), tombTTL: tombTTL,
		historyMax: historyMax, markerTTL: markerTTL, persistent: &persistentLocks{}, accepted: &acceptedMemory{}}
}

// Prefix is the lock key prefix in use (the keyspace watcher subscribes to it).
func (s *Store) Prefix() string { return s.prefix }

// TombstoneTTL is how long this store's release tombstones live.
func (s *Store) TombstoneTTL() time.Duration { return s.tombTTL }

// MarkerTTL is how long this store reads a restore marker as present (Options.MarkerTTL).
func (s *Store) MarkerTTL() time.Duration { return s.markerTTL }

// Location is the zone of the timestamps in lock values.
func (s *Store) Location() *time.Location { return s.loc }

// defaultLocation is DefaultTimezone, loaded once from the embedded zone database.
var defaultLocation = func() *time.Location {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		// Unreachable: time/tzdata is linked in above.
		panic("redislock: load " + DefaultTimezone + ": " + err.Error())
	}
	return loc
}()

func locationOrDefault(loc *time.Location) *time.Location {
	if loc == nil {
		return defaultLocation
	}
	return loc
}
