package keyspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watcher subscribes to the keyspace notifications of lock keys.
type Watcher struct {
	client        *redis.Client
	db            int
	prefix        string
	pattern       string
	mode          Mode
	log           *slog.Logger
	checkInterval time.Duration
	onUnreachable func(time.Time, error)

	mu       sync.Mutex
	status   Status
	subs     int    // subscriptions confirmed so far (all sessions)
	gap      bool   // subscribed while needed flags were known to be missing
	lastNote string // last flag situation logged, to log changes only
}

// New builds a Watcher for the database client is configured with (client.Options().DB).
// The client is used for CONFIG and probes and to open the subscription connection; the
// Watcher never closes it.
func New(client *redis.Client, opts Options) *Watcher {
	mode := opts.Mode
	if mode == "" {
		mode = ModeAuto
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	check := opts.CheckInterval
	if check <= 0 {
		check = 5 * time.Second
	}
	w := &Watcher{
		client: client, prefix: opts.Prefix, mode: mode,
		log: log.With("component", "keyspace"), checkInterval: check, onUnreachable: opts.OnUnreachable,
	}
	if client != nil {
		w.db = client.Options().DB
	}
	w.pattern = subscribePattern(w.db, w.prefix)
	w.status = Status{Mode: mode, Pattern: w.pattern}
	return w
}

// Status reports what is active now. Safe to call from any goroutine.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Missing = append([]Kind(nil), s.Missing...)
	return s
}

// Run subscribes to __keyspace@<db>__:<prefix>* and delivers events until ctx ends.
//
// onEvent gets every del, expired, evicted and set of a lock key, in order, on Run's goroutine:
// keep it short (go-redis buffers 1024 notifications, then blocks). onResubscribed is called,
// after the flags are (re)applied, every time events may have been missed: each subscription
// confirmed after the first (go-redis reconnects by itself, and Run re-subscribes after an
// outage), and when flags that were missing while subscribed became active. Either callback may
// be nil.
//
// While Redis is down Run retries with backoff (100ms doubling to 5s) and returns only when ctx
// ends, with nil. It returns an error at once only for unusable options; in mode off it logs
// once and returns nil. Call Run once per Watcher.
func (w *Watcher) Run(ctx context.Context, onEvent func(Event), onResubscribed func()) error {
	switch w.mode {
	case ModeOff:
		w.log.Info("keyspace events are off (KEYSPACE_EVENTS=off): lost locks are found by the schedule and the restart and outage watchers, and releases leave no tombstones (a restore from a stale sheet may bring a released lock back until its verifying look, RELEASE_SETTLE + 1 s later, takes it back)")
		return nil
	case ModeAuto, ModeConfigure:
	default:
		return fmt.Errorf("keyspace watcher: mode %q: use auto, configure or off", w.mode)
	}
	if w.client == nil {
		return errors.New("keyspace watcher: no redis client")
	}
	if w.prefix == "" {
		return errors.New("keyspace watcher: empty lock key prefix (LOCK_KEY_PREFIX)")
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	if onResubscribed == nil {
		onResubscribed = func() {}
	}
	w.log.Info("keyspace watcher starting", "mode", string(w.mode), "pattern", w.pattern)
	delay := backoffMin
	for {
		established := w.session(ctx, onEvent, onResubscribed)
		w.setSubscribed(false)
		if ctx.Err() != nil {
			w.log.Info("keyspace watcher stopped")
			return nil
		}
		if established {
			delay = backoffMin
		}
		select {
		case <-ctx.Done():
			w.log.Info("keyspace watcher stopped")
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, backoffMax)
	}
}

const (
	backoffMin     = 100 * time.Millisecond
	backoffMax     = 5 * time.Second
	commandTimeout = 3 * time.Second
	// downAfter consecutive failed checks end a session: go-redis would otherwise redial the
	// subscription every 100ms for as long as Redis is down.
	downAfter = 2
)

// session runs one subscription: check (and in configure mode fix) the flags, subscribe,
// deliver. It returns when ctx ends, the subscription channel closes, or Redis stops
// answering; established says whether a subscription was confirmed.
func (w *Watcher) session(ctx context.Context, onEvent func(Event), onResubscribed func()) (established bool) {
	// Flags first, so the first subscription of a healthy server already sees them. This is
	// also the probe: a connection error here means Redis is down.
	res := w.checkFlags(ctx)
	if res.down != nil {
		w.noteDown(res.started, res.down)
		return false
	}
	w.record(res, true, false)

	ps := w.client.PSubscribe(ctx, w.pattern)
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	defer func() {
		_ = ps.Close()
		// Let go-redis's receive goroutine finish instead of blocking on a full channel.
		go func() {
			for range ch {
			}
		}()
	}()

	ticker := time.NewTicker(w.checkInterval)
	defer ticker.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return established
		case msg, ok := <-ch:
			if !ok {
				w.log.Warn("keyspace subscription closed; subscribing again")
				return established
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind != "psubscribe" {
					continue
				}
				established = true
				w.subscribed(ctx, onResubscribed)
			case *redis.Message:
				if ev, ok := parseEvent(w.db, w.prefix, m.Channel, m.Payload, time.Now()); ok {
					w.countEvent()
					onEvent(ev)
				}
			}
		case <-ticker.C:
			res := w.checkFlags(ctx)
			if res.down != nil {
				failures++
				w.noteDown(res.started, res.down)
				if failures >= downAfter {
					w.log.Log(ctx, w.outageLevel(), "redis stopped answering; dropping the keyspace subscription to resubscribe with backoff", "err", res.down)
					return established
				}
				continue
			}
			failures = 0
			if w.record(res, false, true) {
				w.log.Info("keyspace notifications became active; events may have been missed before")
				onResubscribed()
			}
		}
	}
}

// subscribed handles a subscription confirmation: re-check (and in configure mode re-apply)
// the flags, then report a possible gap.
func (w *Watcher) subscribed(ctx context.Context, onResubscribed func()) {
	w.mu.Lock()
	w.subs++
	first := w.subs == 1
	if !first {
		w.status.Resubscriptions++
	}
	w.status.Subscribed = true
	w.refreshActive()
	w.mu.Unlock()

	res := w.checkFlags(ctx)
	repaired := false
	if res.down != nil {
		w.noteDown(res.started, res.down)
	} else {
		repaired = w.record(res, !first, true)
	}
	switch {
	case !first:
		w.log.Info("keyspace subscription re-established; events may have been missed", "pattern", w.pattern)
		onResubscribed()
	case repaired:
		w.log.Info("keyspace notifications became active after subscribing; events may have been missed")
		onResubscribed()
	default:
		w.log.Info("keyspace subscription active", "pattern", w.pattern)
	}
}

func (w *Watcher) setSubscribed(on bool) {
	w.mu.Lock()
	w.status.Subscribed = on
	w.refreshActive()
	w.mu.Unlock()
}

func (w *Watcher) countEvent() {
	w.mu.Lock()
	w.status.Events++
	w.mu.Unlock()
}

// noteDown records that Redis did not answer; logged once per outage.
func (w *Watcher) noteDown(started time.Time, err error) {
	w.mu.Lock()
	was := w.status.Reachable || w.status.LastError == ""
	w.status.Reachable = false
	w.status.LastError = err.Error()
	w.refreshActive()
	w.mu.Unlock()
	if w.onUnreachable != nil {
		w.onUnreachable(started, err)
	}
	if was {
		w.log.Log(context.Background(), w.outageLevel(), "redis unreachable: keyspace events paused; retrying", "err", err)
	} else {
		w.log.Debug("redis still unreachable", "err", err)
	}
}

// outageLevel is the level of the watcher's own notes about an outage: debug when
// OnUnreachable tells the outage for the whole process.
func (w *Watcher) outageLevel() slog.Level {
	if w.onUnreachable != nil {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// refreshActive recomputes Status.Active; w.mu must be held.
func (w *Watcher) refreshActive() {
	s := &w.status
	s.Active = s.Subscribed && s.Reachable && s.MissingFlags == ""
}
