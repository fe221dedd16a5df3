package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"
)

// NewLogger builds the process logger: tint on a terminal, JSON otherwise (format "auto"),
// or as asked ("text"/"tint", "json").
func NewLogger(out io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", level)
	}
	switch strings.ToLower(format) {
	case "auto", "":
		if IsTerminal(out) {
			return slog.New(tint.NewHandler(out, &tint.Options{Level: lvl, TimeFormat: "15:04:05.000"})), nil
		}
		return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lvl})), nil
	case "text", "tint", "pretty":
		return slog.New(tint.NewHandler(out, &tint.Options{Level: lvl, TimeFormat: "15:04:05.000", NoColor: !IsTerminal(out)})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lvl})), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT %q: want auto, text or json", format)
}

// asynqLogger routes asynq's own log lines into slog. While quiet says Redis is known to be
// down, its warnings and errors go to debug: asynq's loops retry every second or faster
// ("Failed to list groups in queue", "Failed to forward scheduled tasks", "Dequeue error"),
// and the outage already has its own line.
type asynqLogger struct {
	l     *slog.Logger
	quiet func() bool
}

func (a asynqLogger) log(level slog.Level, args []any) {
	msg := fmt.Sprint(args...)
	if level >= slog.LevelWarn && (a.quiet != nil && a.quiet() || strings.HasPrefix(msg, aggregationBacklog)) {
		level = slog.LevelDebug
	}
	a.l.Log(context.Background(), level, msg, "component", "asynq")
}

// aggregationBacklog is asynq's warning, every second, that three group checks are still
// waiting for Redis. It is the first thing a stalled Redis produces, a second or so before
// the outage watcher can tell a stall from a slow answer, and says nothing the outage line
// does not: always debug.
const aggregationBacklog = "Max number of aggregation checks in flight"

func (a asynqLogger) Debug(args ...any) { a.log(slog.LevelDebug, args) }
func (a asynqLogger) Info(args ...any)  { a.log(slog.LevelInfo, args) }
func (a asynqLogger) Warn(args ...any)  { a.log(slog.LevelWarn, args) }
func (a asynqLogger) Error(args ...any) {
	// The scheduler's Shutdown tries to close the shared client, which go-redis refuses: the
	// refusal is what we want, not an error.
	if strings.Contains(fmt.Sprint(args...), "redis connection is shared") {
		a.log(slog.LevelDebug, args)
		return
	}
	a.log(slog.LevelError, args)
}
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
