package main

import (
	"context"
	"fmt"
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
	return redis.NewClient(opts), nil
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

// newStore is the lock keyspace with the configured prefix and zone, and tombstones that
// outlive RELEASE_SETTLE (a fixed TTL would cut a long settle window short).
func newStore(rdb redis.UniversalClient, s settings) *redislock.Store {
	return redislock.New(rdb, redislock.Options{
		Prefix: s.LockPrefix, Location: s.Location,
		TombstoneTTL: redislock.TombstoneTTLFor(s.Worker.ReleaseSettle, s.Worker.RestoreMaxStaleness),
		HistoryMax:   s.HistoryMax,
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
