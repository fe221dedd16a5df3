package redislock

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/tests/redisserver"
)

// env is one real redis-server, a go-redis client on it and a Store.
type env struct {
	srv    *redisserver.Server
	client *redis.Client
	store  *Store
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	srv := redisserver.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 120})
	t.Cleanup(func() { _ = client.Close() })
	return &env{srv: srv, client: client, store: New(client, opts)}
}

// downStore is a Store on e's server, with a client that does not retry, after the server was
// killed: for error paths, without go-redis's retry backoff.
func (e *env) downStore(t *testing.T) *Store {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: e.srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	e.srv.Kill()
	return New(c, Options{})
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func santiago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// pttl is PTTL of key as an int, read through the raw protocol helper.
func (e *env) pttl(t *testing.T, key string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(e.srv.MustDo("PTTL", key), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countingHook counts the commands and pipelines that reach the network, leaving out the
// handshake go-redis sends on every new connection (HELLO, CLIENT SETINFO, ...): that cost
// belongs to dialing, not to the operation under test.
type countingHook struct {
	process, pipelines int
	cmds               []redis.Cmder
	pipelineCmds       [][]redis.Cmder
}

func isHandshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !isHandshake(cmd) {
			h.process++
			h.cmds = append(h.cmds, cmd)
		}
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		data := 0
		for _, c := range cmds {
			if !isHandshake(c) {
				data++
			}
		}
		if data > 0 {
			h.pipelines++
			h.pipelineCmds = append(h.pipelineCmds, cmds)
		}
		return next(ctx, cmds)
	}
}

func strconvI64(n int64) string { return strconv.FormatInt(n, 10) }

// redisNow is the test server's TIME, truncated to milliseconds like the scripts.
func (e *env) redisNow(t *testing.T) time.Time {
	t.Helper()
	now, err := e.client.Time(ctxT(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now.Truncate(time.Millisecond)
}

// tombstoneTime is the release time a tag's tombstone holds.
func (e *env) tombstoneTime(t *testing.T, tag string) time.Time {
	t.Helper()
	ms, err := strconv.ParseInt(e.srv.MustDo("GET", TombstoneKey(tag)), 10, 64)
	if err != nil {
		t.Fatalf("tombstone of %q: %v", tag, err)
	}
	return time.UnixMilli(ms)
}
