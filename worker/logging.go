package worker

import (
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

// asynqLogger routes asynq's own log lines into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) {
	msg := fmt.Sprint(args...)
	// The scheduler's Shutdown tries to close the shared client, which go-redis refuses: the
	// refusal is what we want, not an error.
	if strings.Contains(msg, "redis connection is shared") {
		a.l.Debug(msg, "component", "asynq")
		return
	}
	a.l.Error(msg, "component", "asynq")
}
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1)
}
