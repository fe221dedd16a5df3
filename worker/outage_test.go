package worker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
)

// TestOutageWatcherOnePairPerOutage drives the outage watcher through the hook of a real
// client: answers that are errors (a nil reply, a script error) are no sign; a killed server
// is one lost line however many commands fail; the first answer after it is one back line and
// one onBack; a failure of a command sent during the outage that lands after it is an echo.
func TestOutageWatcherOnePairPerOutage(t *testing.T) {
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &logbuffer.Buffer{}
	var backs atomic.Int32
	o := newOutage(slog.New(slog.NewJSONHandler(logs, nil)), func() { backs.Add(1) })
	rdb.AddHook(redisHook{o: o, kick: func() {}})
	ctx := context.Background()
	count := func(msg string) int { return strings.Count(logs.String(), `"msg":"`+msg+`"`) }

	if err := rdb.Get(ctx, "absent").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET absent: %v", err)
	}
	if err := rdb.Eval(ctx, "return redis.error_reply('boom')", nil).Err(); err == nil {
		t.Fatal("the failing script did not fail")
	}
	if o.Down() || count(msgRedisLost) != 0 {
		t.Fatalf("a nil reply or a script error marked Redis lost:\n%s", logs)
	}

	for round := 1; round <= 2; round++ {
		rds.Kill()
		for range 5 {
			if err := rdb.Ping(ctx).Err(); err == nil {
				t.Fatal("PING answered by a killed server")
			}
		}
		if !o.Down() || !o.Quiet() || count(msgRedisLost) != round {
			t.Fatalf("round %d: down %v, %d lost lines; want down and %d\n%s", round, o.Down(), count(msgRedisLost), round, logs)
		}
		rds.Restart()
		if !redisserver.WaitFor(ctx, 10*time.Second, func() bool { return rdb.Ping(ctx).Err() == nil }) {
			t.Fatalf("round %d: the restarted server does not answer", round)
		}
		rdb.Ping(ctx)
		if o.Down() || count(msgRedisBack) != round || backs.Load() != int32(round) {
			t.Fatalf("round %d: down %v, %d back lines, %d onBack calls; want up, %d and %d\n%s",
				round, o.Down(), count(msgRedisBack), backs.Load(), round, round, logs)
		}
		// A failure of a command that started during the outage is its echo, not a new one.
		o.failed(time.Now().Add(-time.Minute), errors.New("late timeout"))
		if o.Down() || count(msgRedisLost) != round {
			t.Fatalf("round %d: a late failure from the outage started another\n%s", round, logs)
		}
	}
}

// TestOutageAtBootHasNoRedisBack: Redis unreachable from the start is told the same way, but
// the boot reconcile covers it, so onBack is not called. go-redis's own lines about it go
// through slog, at debug while the outage is known.
func TestOutageAtBootHasNoRedisBack(t *testing.T) {
	rds := redisserver.Start(t)
	rds.Kill()
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &logbuffer.Buffer{}
	var backs atomic.Int32
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := newOutage(log, func() { backs.Add(1) })
	rdb.AddHook(redisHook{o: o, kick: func() {}})
	redis.SetLogger(RedisLogger(log, o.Quiet))
	t.Cleanup(func() { redis.SetLogger(RedisLogger(slog.New(slog.DiscardHandler), nil)) })
	ctx := context.Background()
	_ = rdb.Ping(ctx).Err()
	if !o.Down() {
		t.Fatal("a refused connection did not mark Redis lost")
	}
	if !redisserver.WaitFor(ctx, 5*time.Second, func() bool {
		return strings.Contains(logs.String(), `"level":"DEBUG","msg":"connection pool: failed to dial`)
	}) {
		t.Fatalf("go-redis's dial failure is not a debug line of slog:\n%s", logs)
	}
	if strings.Contains(logs.String(), `"level":"WARN","msg":"connection pool`) {
		t.Fatalf("go-redis warned while the outage was known:\n%s", logs)
	}
	rds.Restart()
	if !redisserver.WaitFor(ctx, 10*time.Second, func() bool { return rdb.Ping(ctx).Err() == nil }) {
		t.Fatal("the started server does not answer")
	}
	if o.Down() || backs.Load() != 0 || !strings.Contains(logs.String(), msgRedisBack) {
		t.Fatalf("down %v, %d onBack calls; want up, 0 and a back line\n%s", o.Down(), backs.Load(), logs)
	}
}

// TestAsynqLoggerQuietWhileRedisIsDown: asynq's errors are errors while Redis answers and
// debug lines while the outage is known; its aggregation backlog warning is always debug.
func TestAsynqLoggerQuietWhileRedisIsDown(t *testing.T) {
	logs := &logbuffer.Buffer{}
	var down atomic.Bool
	l := asynqLogger{slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), down.Load}
	l.Error(`Failed to list groups in queue: "restore"`)
	down.Store(true)
	l.Error("Failed to forward scheduled tasks: dial tcp: connection refused")
	l.Warn("Failed to delete aggregation set")
	down.Store(false)
	l.Warn(aggregationBacklog + ". Skipping")
	for _, want := range []string{
		`"level":"ERROR","msg":"Failed to list groups in queue: \"restore\""`,
		`"level":"DEBUG","msg":"Failed to forward scheduled tasks`,
		`"level":"DEBUG","msg":"Failed to delete aggregation set"`,
		`"level":"DEBUG","msg":"Max number of aggregation checks in flight. Skipping"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
