package keyspace

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Mode says how the Watcher treats the server's notify-keyspace-events setting
// (KEYSPACE_EVENTS).
type Mode string

const (
	// ModeAuto uses whatever the server has, logs what is missing and what that costs, and
	// never changes the server's configuration.
	ModeAuto Mode = "auto"
	// ModeConfigure adds the missing flags with CONFIG SET (keeping the existing ones) on
	// every (re)connect, because a restarted Redis forgets them.
	ModeConfigure Mode = "configure"
	// ModeOff disables keyspace events: Run returns at once.
	ModeOff Mode = "off"
)

// ParseMode reads KEYSPACE_EVENTS (case-insensitive; empty means auto).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeConfigure, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("KEYSPACE_EVENTS %q: use auto, configure or off", s)
}

// Options configure a Watcher.
type Options struct {
	// Prefix is the lock key prefix (LOCK_KEY_PREFIX), e.g. "spool_lock:". Required.
	Prefix string
	// Mode is auto (the default when empty), configure or off.
	Mode Mode
	// Log receives the watcher's lines; nil means slog.Default().
	Log *slog.Logger
	// CheckInterval is how often a subscribed watcher re-reads the server's flags (re-applying
	// them in configure mode) and notices that Redis went away. Zero means 5s.
	CheckInterval time.Duration
	// OnUnreachable, when set, is told every time Redis does not answer the watcher (a stalled
	// subscription's flag check, a failed probe), with when the unanswered command was sent;
	// the watcher then leaves the telling of the outage to it and logs its own notes at debug.
	// It must not block.
	OnUnreachable func(sent time.Time, err error)
}

// Status is what the Watcher has now, for logs and /readyz.
type Status struct {
	Mode    Mode
	Pattern string // the PSUBSCRIBE pattern
	// Subscribed: a subscription is confirmed on the current connection.
	Subscribed bool
	// Reachable: the last command to Redis got an answer.
	Reachable bool
	// Active: subscribed, reachable, and no needed flag known to be missing (flags that cannot
	// be read, because CONFIG is refused, count as present).
	Active bool
	// FlagsKnown: CONFIG GET answered; Flags is then the server's notify-keyspace-events.
	FlagsKnown bool
	Flags      string
	// MissingFlags are the needed flags (K g x e $) the server lacks; Missing the event kinds
	// that will therefore not arrive (all of them without K).
	MissingFlags string
	Missing      []Kind
	// Resubscriptions counts subscriptions confirmed after the first: each may have missed events.
	Resubscriptions int
	// Events counts delivered events.
	Events uint64
	// LastError is the last Redis error seen, if any ("" once Redis answers again).
	LastError string
}
