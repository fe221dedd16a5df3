package keyspace

import (
	"strconv"
	"strings"
	"time"

	"reconciler/adapters/internal/redisglob"
)

// Kind is the keyspace event name Redis publishes for a lock key.
type Kind string

// The event kinds the worker acts on. Others (expire, persist, rename_from, …) are ignored.
const (
	KindDel     Kind = "del"     // DEL, UNLINK, GETDEL: a release (flag g)
	KindExpired Kind = "expired" // TTL ran out (flag x)
	KindEvicted Kind = "evicted" // maxmemory eviction (flag e)
	KindSet     Kind = "set"     // SET in any form: the spool was taken (flag $)
)

// Kinds lists every kind a Watcher delivers.
var Kinds = []Kind{KindDel, KindExpired, KindEvicted, KindSet}

// Event is one keyspace notification for a lock key.
type Event struct {
	Kind Kind
	Tag  string    // the key without the lock prefix; may contain colons
	Key  string    // the full Redis key
	At   time.Time // when the watcher received it (Redis does not timestamp notifications)
}

// channelPrefix is the keyspace channel prefix of a database: "__keyspace@0__:".
func channelPrefix(db int) string {
	return "__keyspace@" + strconv.Itoa(db) + "__:"
}

// subscribePattern is the PSUBSCRIBE pattern for every key under prefix in db. The prefix is
// glob-escaped so a prefix such as "lock[1]:" matches only itself.
func subscribePattern(db int, prefix string) string {
	return redisglob.Prefix(channelPrefix(db) + prefix)
}

// parseEvent turns a notification (channel, payload) into an Event. ok is false for other
// databases, keys outside the prefix, an empty tag, and event names the worker ignores.
func parseEvent(db int, prefix, channel, payload string, at time.Time) (Event, bool) {
	key, found := strings.CutPrefix(channel, channelPrefix(db))
	if !found {
		return Event{}, false
	}
	tag, found := strings.CutPrefix(key, prefix)
	if !found || tag == "" {
		return Event{}, false
	}
	switch kind := Kind(payload); kind {
	case KindDel, KindExpired, KindEvicted, KindSet:
		return Event{Kind: kind, Tag: tag, Key: key, At: at}, true
	}
	return Event{}, false
}
