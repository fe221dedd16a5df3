package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/worker"
)

// connectRedis builds the process's one Redis pool with go-redis's own URL parser (asynq's
// drops the username). The pool is small: Railway's Redis limits connections.
func connectRedis(rawURL string, poolSize int) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis errors can quote parts of the URL; the password must not reach the log.
		return nil, fmt.Errorf("parse REDIS_URL: %s", redact(err.Error(), rawURL))
	}
	opts.PoolSize = poolSize
	opts.MinIdleConns = 1
	opts.DialTimeout = 3 * time.Second
	opts.ReadTimeout = 5 * time.Second
	opts.WriteTimeout = 5 * time.Second
	opts.DialerRetryBackoff = dialRetryBackoff
	return redis.NewClient(opts), nil
}

// dialRetryBackoff is the pause between go-redis's dial attempts of one command (five
// attempts). go-redis waits 100 ms between them by default, so a command that began while
// Redis was down (asynq's dequeue loop is always such a command during an outage) dials again
// up to 100 ms after Redis is back, and the task queued by the restart's reconcile waits that
// long to be picked up. Short first pauses find a quick restart at once; the last ones keep a
// long outage from dialling much more often than before.
func dialRetryBackoff(attempt int) time.Duration {
	return min(10*time.Millisecond<<attempt, 100*time.Millisecond)
}

// silenceRedisLog keeps go-redis's own lines (`failed to dial after 5 attempts`) out of a CLI
// command's output: the command says what failed in one line of its own (reachRedis). Call it
// before the pool exists, which dials at once.
func silenceRedisLog() { redis.SetLogger(worker.RedisLogger(slog.New(slog.DiscardHandler), nil)) }

// reachRedis checks that Redis answers before a CLI command uses it, so an unreachable Redis
// is one clear line instead of a wait through go-redis's retries.
func reachRedis(ctx context.Context, rdb *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("Redis at %s does not answer (check REDIS_URL): %w", rdb.Options().Addr, err)
	}
	return nil
}

// redact removes the password of rawURL from text.
func redact(text, rawURL string) string {
	if i := strings.Index(rawURL, "://"); i >= 0 {
		rest := rawURL[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			userinfo := rest[:at]
			if c := strings.IndexByte(userinfo, ':'); c >= 0 && c+1 < len(userinfo) {
				text = strings.ReplaceAll(text, userinfo[c+1:], "*****")
			}
		}
	}
	return text
}

// newStore is the lock keyspace with the configured prefix and zone, tombstones that outlive
// RELEASE_SETTLE (a fixed TTL would cut a long settle window short), and restore markers read
// for as long as a restore keeps them (RELEASE_SETTLE + 15 min).
func newStore(rdb redis.UniversalClient, s settings) *redislock.Store {
	return redislock.New(rdb, redislock.Options{
		Prefix: s.LockPrefix, Location: s.Location,
		TombstoneTTL: redislock.TombstoneTTLFor(s.Worker.ReleaseSettle, s.Worker.RestoreMaxStaleness),
		HistoryMax:   s.HistoryMax,
		MarkerTTL:    redislock.RestoredMarkerTTL(s.Worker.ReleaseSettle),
	})
}

// newSheet picks the transport: a CSV export or the Sheets API. log receives the header
// warnings (a needed name on several columns), once per header layout.
func newSheet(ctx context.Context, s settings, log *slog.Logger, onResponse func(code int)) (jobs.SheetReader, error) {
	if s.SheetCSV != "" {
		return sheets.NewCSV(s.SheetCSV, s.Location).WithLogger(log), nil
	}
	api, err := sheets.NewAPI(ctx, sheets.APIConfig{
		SpreadsheetID:   s.SheetID,
		SheetName:       s.SheetName,
		Endpoint:        s.SheetsEndpoint,
		CredentialsJSON: s.Credentials,
		Location:        s.Location,
		OnResponse:      onResponse,
		Logger:          log,
	})
	if err != nil {
		return nil, fmt.Errorf("set up the Sheets API client: %w", err)
	}
	return api, nil
}

// connectForRead loads the settings and connects to Redis for a read-only command; a nil
// client means it failed, and code says how.
func connectForRead(ctx context.Context, cf commonFlags, getenv func(string) string, needSheet bool, name string, stderr io.Writer) (settings, *redis.Client, int) {
	s, err := loadSettings(cf.getenv(getenv), needSheet)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return s, nil, exitError
	}
	if s.Embedded {
		fmt.Fprintf(stderr, "reconciler %s: set REDIS_URL and SHEET_CSV (or GOOGLE_SHEET_ID): the embedded worker prints both\n", name)
		return s, nil, exitError
	}
	silenceRedisLog()
	rdb, err := connectRedis(s.RedisURL, 4)
	if err != nil {
		fmt.Fprintln(stderr, "reconciler:", err)
		return s, nil, exitError
	}
	if err := reachRedis(ctx, rdb); err != nil {
		rdb.Close()
		fmt.Fprintf(stderr, "reconciler %s: %v\n", name, err)
		return s, nil, exitError
	}
	return s, rdb, exitOK
}

// readOnlyPlan is what plan and accept-sheet read, writing nothing: the settings, the Redis
// client (the caller closes it), the store, the reconciler that planned, the plan of a full
// run, and the suspect state the workers recorded (nil while they trust the sheet).
type readOnlyPlan struct {
	s        settings
	rdb      *redis.Client
	store    *redislock.Store
	r        *jobs.Reconciler
	plan     jobs.Plan
	recorded *jobs.SuspectState
}

// planReadOnly connects, reads the sheet and the locks and plans a full run as a schedule's
// look would, within 3 × RECONCILE_DEADLINE; on failure it prints one line and returns the
// exit code.
func planReadOnly(ctx context.Context, cf commonFlags, getenv func(string) string, name string, stderr io.Writer) (readOnlyPlan, int) {
	s, rdb, code := connectForRead(ctx, cf, getenv, true, name, stderr)
	if rdb == nil {
		return readOnlyPlan{}, code
	}
	fail := func(err error) (readOnlyPlan, int) {
		rdb.Close()
		fmt.Fprintf(stderr, "reconciler %s: %v\n", name, err)
		return readOnlyPlan{}, exitError
	}
	sheet, err := newSheet(ctx, s, slog.New(slog.NewTextHandler(stderr, nil)), nil)
	if err != nil {
		return fail(err)
	}
	// The store is also the shared clock (Redis TIME): reading it writes nothing.
	store := newStore(rdb, s)
	r := &jobs.Reconciler{Sheet: sheet, Locks: store, Trust: store, Clock: store, Rules: s.Worker.Rules,
		Settle: s.Worker.ReleaseSettle, OrphanGrace: s.Worker.OrphanGrace}
	ctx, cancel := context.WithTimeout(ctx, s.Worker.Tasks.ReconcileDeadline*3)
	defer cancel()
	plan, err := r.Plan(ctx, nil)
	if err != nil {
		return fail(err)
	}
	state, recorded, err := store.Suspect(ctx)
	if err != nil {
		return fail(err)
	}
	v := readOnlyPlan{s: s, rdb: rdb, store: store, r: r, plan: plan}
	if recorded {
		v.recorded = &state
	}
	return v, exitOK
}
