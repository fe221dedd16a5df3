package redislock

// DropWatchKey is a list nobody pushes to: workers block on it (BLPOP) so that a connection
// held open notices at once when Redis goes away or restarts, at a cost of one command a
// second while idle. A value pushed to it only wakes the watchers early; it is discarded.
const DropWatchKey = "reconciler:drop-watch"
