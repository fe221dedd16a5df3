// Package keyspace turns Redis keyspace notifications for lock keys into typed events.
//
// The worker needs four things from Redis about `{prefix}{TAG}` keys: a lock was deleted
// (del: a release, recorded as a tombstone for the release race), expired or evicted (a lock
// was lost: reconcile those tags now instead of at the next schedule tick), and set (the spool
// was taken again: its tombstone can go). Redis publishes them on
// `__keyspace@<db>__:<key>` when notify-keyspace-events holds K plus g (del), x (expired),
// e (evicted) and $ (set).
//
// Notifications are fire-and-forget: nothing is published while the subscriber is
// disconnected, and a restarted Redis forgets a CONFIG SET. The Watcher therefore reports every
// moment events may have been missed (a re-subscription, or flags that were missing and became
// active) through onResubscribed, so the caller can run a full reconcile, and re-applies the
// flags on every (re)connect in "configure" mode.
package keyspace
