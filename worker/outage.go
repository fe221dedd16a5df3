package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Log messages of an outage: exactly one of each per outage (tests look for them).
const (
	msgRedisLost = "Redis unreachable"
	msgRedisBack = "Redis answers again"
)

// quietAfterBack is how long after Redis answers again that failures of commands sent during
// the outage (they time out up to a read timeout later) still count as the outage's echo.
const quietAfterBack = 6 * time.Second

// outage watches every command and dial of the shared go-redis client (through redisHook) and
// the restart watcher's checks. Any sign that Redis is unreachable marks it lost; the first
// answer after that marks it back and calls onBack, once per outage. While it is lost, and for
// a moment after, the process's other loggers (asynq's, go-redis's, the retries) stay quiet:
// the outage is one line when it starts and one when it ends.
type outage struct {
	log *slog.Logger
	now func() time.Time
	// onBack runs when Redis answers after an outage, if it had answered before the outage
	// (at boot the boot reconcile covers the time before). It must not block.
	onBack func()

	down    atomic.Bool // fast path for every command
	reached atomic.Bool // Redis answered at least once in this process

	mu     sync.Mutex
	since  time.Time // when the current outage was noticed
	backAt time.Time // when the last outage ended
	count  int       // outages noticed so far
}

func newOutage(log *slog.Logger, onBack func()) *outage {
	return &outage{log: log, now: time.Now, onBack: onBack}
}

// Down says Redis is known to be unreachable now.
func (o *outage) Down() bool { return o.down.Load() }

// Quiet says Redis is down or came back moments ago: errors about it are the outage's, already
// told by its own line.
func (o *outage) Quiet() bool {
	if o.down.Load() {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.backAt.IsZero() && o.now().Sub(o.backAt) < quietAfterBack
}

// Count is the number of outages noticed so far.
func (o *outage) Count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count
}

// failed records a sign that Redis is unreachable, from an attempt that started at started.
// An attempt started before Redis last came back is an echo of that outage, not a new one.
func (o *outage) failed(started time.Time, err error) {
	if o.down.Load() {
		return
	}
	o.mu.Lock()
	if o.down.Load() || started.Before(o.backAt) {
		o.mu.Unlock()
		return
	}
	o.down.Store(true)
	o.since = o.now()
	o.count++
	o.mu.Unlock()
	o.log.Warn(msgRedisLost, "err", err.Error(),
		"effect", "reconciles wait; the backend may take spools in the sheet only; one full reconcile runs when Redis answers")
}

// answered records that Redis answered a command.
func (o *outage) answered() {
	if !o.down.Load() {
		if !o.reached.Load() {
			o.reached.Store(true)
		}
		return
	}
	o.mu.Lock()
	if !o.down.Load() {
		o.mu.Unlock()
		return
	}
	o.down.Store(false)
	o.backAt = o.now()
	gone := o.backAt.Sub(o.since)
	o.mu.Unlock()
	wasReached := o.reached.Swap(true)
	o.log.Info(msgRedisBack, "down_for", gone.Round(100*time.Millisecond).String())
	if wasReached && o.onBack != nil {
		o.onBack()
	}
}

// observe classifies the result of one command or pipeline sent at started.
func (o *outage) observe(ctx context.Context, started time.Time, err error) {
	switch {
	case isAnswer(err):
		o.answered()
	case unreachable(ctx, err):
		o.failed(started, err)
	}
}

// isAnswer says Redis replied: success, a nil reply, or an error reply (a script error, a
// wrong type). A server still loading its data set has not really answered yet.
func isAnswer(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return true
	}
	var reply redis.Error
	return errors.As(err, &reply) && !strings.HasPrefix(err.Error(), "LOADING")
}

// unreachable says err is a sign that Redis cannot be reached: a network error or timeout, a
// dropped connection, no connection free for the pool's timeout. A caller's own deadline or
// cancellation says nothing about Redis (the restart watcher reports its own timeouts).
func unreachable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout)
}

// redisHook feeds the outage watcher from the shared client and kicks the restart watcher
// whenever a new connection is dialled: a dropped connection is the first sign of a restart.
type redisHook struct {
	o    *outage
	kick func()
}

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		started := time.Now()
		conn, err := next(ctx, network, addr)
		if err != nil {
			// A TCP connect that succeeds proves nothing (a stopped server's kernel still
			// accepts); only a failed one is a sign.
			if unreachable(ctx, err) {
				h.o.failed(started, err)
			}
			return conn, err
		}
		h.kick()
		return conn, nil
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		started := time.Now()
		err := next(ctx, cmd)
		h.o.observe(ctx, started, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		started := time.Now()
		err := next(ctx, cmds)
		h.o.observe(ctx, started, err)
		return err
	}
}

// RedisLogger routes go-redis's own log lines (`failed to dial after 5 attempts`, pool
// notices) into slog, at debug while quiet says Redis is known to be down, or always when
// quiet is nil (the CLI, which says what failed in its own words): install it with
// redis.SetLogger.
func RedisLogger(log *slog.Logger, quiet func() bool) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{l: log.With("component", "go-redis"), quiet: quiet}
}

type redisLogger struct {
	l     *slog.Logger
	quiet func() bool
}

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	level := slog.LevelWarn
	if r.quiet == nil || r.quiet() {
		level = slog.LevelDebug
	}
	r.l.Log(ctx, level, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
