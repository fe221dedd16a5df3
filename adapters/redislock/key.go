package redislock

import (
	"fmt"
	"strings"

	"reconciler/adapters/internal/redisglob"
)

// TombstonePrefix starts every release tombstone key: `reconciler:released:{TAG}` holds the
// unix milliseconds of the DEL that released the lock (see docs/design.md, "The release race").
// It does not follow LOCK_KEY_PREFIX, so tombstones never match the lock key pattern.
const TombstonePrefix = "reconciler:released:"

// RestoredKey is the hash of restore markers: field TAG, value "{restore unix ms}|{lock
// value}" for a lock this worker restored (or replaced) and has not verified yet (docs/design.md,
// "Verifying restores"). Written by the restore script in the same step as the lock: one HSET
// per script call for all the locks it restored, instead of one key per lock.
//
// A marker lives RestoredMarkerTTL (RELEASE_SETTLE + 15 minutes), but Redis 7.0 has no TTL per
// field, so the hash comes in two generations: RestoredKey, which a writer renames to
// RestoredPreviousKey once it is more than one marker TTL old, and the previous generation,
// which lives one marker TTL more. Every field so outlives its TTL, and none lives more than
// three: the hashes stay bounded however long restores go on, and both disappear when idle.
// Readers treat a field older than the TTL as absent (markers.lua, marker.go).
const RestoredKey = "reconciler:restored"

// RestoredPreviousKey is the previous generation of RestoredKey (see there).
const RestoredPreviousKey = "reconciler:restored_previous"

// LegacyRestoredPrefix starts the restore markers of earlier versions: one string key
// `reconciler:restored:{TAG}` per lock, "{ms}|{value}", with the marker TTL. A worker of an
// earlier version may still write them during a rolling deploy, and they live one marker TTL
// after; so they are still read (the newer of a tag's markers counts), dropped with the
// markers that supersede them, and deleted with their lock. None is written any more.
const LegacyRestoredPrefix = "reconciler:restored:"

// OrphansKey is the hash of orphan sightings: field TAG, value "{first-seen unix ms}|{lock
// value}", the first snapshot that saw that value unbacked (docs/design.md, "Orphan locks"). One
// hash, so replicas and restarts agree and a full run reads every sighting in one command.
const OrphansKey = "reconciler:orphans"

// AcceptedSnapshotKey holds the last accepted snapshot's occupations, tag → holder (trimmed)
// as `Ocupado_Por` showed it, as one string value (accepted.go: the encoding, and why one value;
// docs/design.md, "Trusting a snapshot").
const AcceptedSnapshotKey = "reconciler:accepted_snapshot"

// LegacyAcceptedKey is the hash in which earlier versions kept the accepted occupations (field
// TAG, value the holder). It is read only while no AcceptedSnapshotKey exists, and each
// acceptance gives it an hour to live.
const LegacyAcceptedKey = "reconciler:accepted"

// TrustKey is a hash beside AcceptedSnapshotKey: `accepted_at` (unix ms of the last acceptance;
// its presence says a snapshot was accepted, even one with no occupation), `judged_at` (unix ms
// of the last real run's judgement, sane or suspect) and `accepted_digest` (names the content
// of AcceptedSnapshotKey, written with it).
const TrustKey = "reconciler:trust"

// SuspectKey holds the suspect state while the sheet is suspect: JSON {since, reason,
// examples}. Set with SET NX and removed with DEL, so exactly one process sees the state begin
// and end, and logs it.
const SuspectKey = "reconciler:sheet_suspect"

// DeletingPrefix starts the key a lock is renamed to when the worker deletes it (retraction,
// orphan release), inside the one script that deletes it at once: `reconciler:deleting:{TAG}`
// never outlives that script. Renaming instead of DEL keeps the worker's own deletions out of the
// lock key's `del` events, so the keyspace watcher writes no tombstone for them (delete_lock.lua).
const DeletingPrefix = "reconciler:deleting:"

// DeletingKey is the key tag's lock is renamed to while the worker deletes it.
func DeletingKey(tag string) string { return DeletingPrefix + tag }

// LegacyRestoredKey is the restore marker key an earlier version wrote for tag.
func LegacyRestoredKey(tag string) string { return LegacyRestoredPrefix + tag }

// Key is the lock key of tag: `{prefix}{TAG}`, exactly as the backend writes it.
func (s *Store) Key(tag string) string { return s.prefix + tag }

// TagOf is the tag of a lock key, and false when key is not a lock key of this store (it lacks
// the prefix, or nothing follows it).
func (s *Store) TagOf(key string) (string, bool) {
	tag, ok := strings.CutPrefix(key, s.prefix)
	if !ok || tag == "" {
		return "", false
	}
	return tag, true
}

// TombstoneKey is the release tombstone key of tag.
func TombstoneKey(tag string) string { return TombstonePrefix + tag }

// keysPattern is the SCAN MATCH pattern of every lock key: the prefix with its glob
// metacharacters escaped (a prefix like `spool*lock:` must match only itself), then `*`.
func (s *Store) keysPattern() string { return redisglob.Prefix(s.prefix) }

// ReservedPrefixes start keys that are not locks: the reconciler's own records and asynq's
// queues and tasks. LOCK_KEY_PREFIX must not overlap them (CheckPrefix), or the lock scan would
// take them for locks (and could release them) and the worker's writes could land on locks.
var ReservedPrefixes = []string{"reconciler:", "asynq:"}

// CheckPrefix reports a lock key prefix that overlaps a reserved prefix: one starts with the
// other, so some key would match both.
func CheckPrefix(prefix string) error {
	for _, r := range ReservedPrefixes {
		if strings.HasPrefix(prefix, r) || strings.HasPrefix(r, prefix) {
			return fmt.Errorf("overlaps the %q keys (one starts with the other)", r)
		}
	}
	return nil
}
