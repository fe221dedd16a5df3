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

// RestoredPrefix starts every restore marker key: `reconciler:restored:{TAG}` holds
// "{restore unix ms}|{lock value}" for a lock this worker restored and has not verified yet
// (docs/design.md, "The release race"). Written by the restore script, in the same step as the lock.
const RestoredPrefix = "reconciler:restored:"

// OrphansKey is the hash of orphan sightings: field TAG, value "{first-seen unix ms}|{lock
// value}", the first snapshot that saw that value unbacked (docs/design.md, "Orphan locks"). One
// hash, so replicas and restarts agree and a full run reads every sighting in one command.
const OrphansKey = "reconciler:orphans"

// AcceptedKey is the hash of the last accepted snapshot's occupations: field TAG, value the
// holder (trimmed), as `Ocupado_Por` showed it (docs/design.md, "Trusting a snapshot"). A run
// writes only its difference from what it read.
const AcceptedKey = "reconciler:accepted"

// TrustKey is a hash beside AcceptedKey: `accepted_at` (unix ms of the last acceptance; its
// presence says a snapshot was accepted, even one with no occupation) and `judged_at` (unix ms
// of the last real run's judgement, sane or suspect).
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

// RestoredKey is the restore marker key of tag.
func RestoredKey(tag string) string { return RestoredPrefix + tag }

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
