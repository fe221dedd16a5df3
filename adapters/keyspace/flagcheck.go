package keyspace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

const configParam = "notify-keyspace-events"

// flagCheck is one reading (and in configure mode, repair) of the server's flags.
type flagCheck struct {
	known   bool      // CONFIG GET answered
	flags   string    // the server's value (after any CONFIG SET)
	missing string    // needed flags still missing; "" when unknown
	before  string    // the value before a CONFIG SET
	added   string    // flags CONFIG SET added
	refused error     // the server refused CONFIG GET or SET (managed Redis, ACL)
	down    error     // no answer: Redis is unreachable
	started time.Time // when the check was sent (a late failure may be an ended outage's echo)
}

// checkFlags reads notify-keyspace-events and, in configure mode, adds what is missing. It
// uses the regular client (never the subscription connection).
func (w *Watcher) checkFlags(ctx context.Context) flagCheck {
	started := time.Now()
	flags, err := w.readFlags(ctx)
	if err != nil {
		if refusedByServer(err) {
			return flagCheck{refused: err}
		}
		return flagCheck{down: err, started: started}
	}
	res := flagCheck{known: true, flags: flags, missing: missingFlags(flags)}
	if res.missing == "" || w.mode != ModeConfigure {
		return res
	}
	want := unionFlags(flags)
	cctx, cancel := context.WithTimeout(ctx, commandTimeout)
	err = w.client.ConfigSet(cctx, configParam, want).Err()
	cancel()
	if err != nil {
		err = fmt.Errorf("CONFIG SET %s %q: %w", configParam, want, err)
		if refusedByServer(err) {
			res.refused = err
			return res
		}
		return flagCheck{down: err, started: started}
	}
	res.before, res.added = flags, res.missing
	// Read back: the server normalises the value (e.g. "Kg$xeE" comes back as "g$xeKE").
	if after, err := w.readFlags(ctx); err == nil {
		res.flags, res.missing = after, missingFlags(after)
	} else {
		res.flags, res.missing = want, ""
	}
	return res
}

func (w *Watcher) readFlags(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	values, err := w.client.ConfigGet(ctx, configParam).Result()
	if err != nil {
		return "", fmt.Errorf("CONFIG GET %s: %w", configParam, err)
	}
	v, ok := values[configParam]
	if !ok {
		return "", fmt.Errorf("CONFIG GET %s: %w", configParam, errNoParam)
	}
	return v, nil
}

var errNoParam = errors.New("the server does not report this parameter")

// refusedByServer tells a server's error reply (CONFIG renamed away, ACL NOPERM, …): Redis is
// up but will not do it, from a connection problem.
func refusedByServer(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) || errors.Is(err, errNoParam)
}

// record stores a check in the status and logs it: always when force (a (re)connect), else only
// when the situation changed. It returns true when flags that were missing while subscribed are
// now all present: events may have been missed.
func (w *Watcher) record(res flagCheck, force, subscribed bool) (repaired bool) {
	w.mu.Lock()
	s := &w.status
	s.Reachable, s.LastError = true, ""
	if res.known {
		s.FlagsKnown, s.Flags = true, res.flags
		s.MissingFlags, s.Missing = res.missing, missingKinds(res.missing)
		if subscribed && (res.missing != "" || res.added != "") {
			w.gap = true
		}
		if res.missing == "" && w.gap {
			w.gap, repaired = false, true
		}
	} else {
		s.FlagsKnown, s.Flags, s.MissingFlags, s.Missing = false, "", "", nil
	}
	if res.refused != nil {
		s.LastError = res.refused.Error()
	}
	w.refreshActive()
	note := fmt.Sprintf("%t|%s|%s|%v", res.known, res.flags, res.missing, res.refused != nil)
	changed := note != w.lastNote
	w.lastNote = note
	w.mu.Unlock()
	if force || changed || res.added != "" {
		w.logCheck(res)
	}
	return repaired
}

// logCheck says what the flags are, what was changed, and what anything missing costs.
func (w *Watcher) logCheck(res flagCheck) {
	switch {
	case res.added != "":
		w.log.Info("enabled keyspace notifications with CONFIG SET", "before", res.before, "after", res.flags, "added", res.added)
		if res.missing == "" {
			return
		}
	case res.refused != nil && w.mode == ModeConfigure:
		lost := missingFlags(res.flags)
		if !res.known {
			lost = neededFlags
		}
		w.log.Warn("cannot enable keyspace notifications: the server refused CONFIG (managed Redis may disable it); the worker relies on RECONCILE_SCHEDULE for what events would have caught",
			"err", res.refused, "flags", flagsOrUnknown(res), "needed", neededFlags, "lost_if_missing", costs(lost))
		return
	case res.refused != nil:
		w.log.Warn("keyspace notification flags unknown: CONFIG GET refused; subscribed anyway, events arrive only if the server has K, g, x, e and $",
			"err", res.refused, "lost_if_missing", costs(neededFlags))
		return
	}
	if res.missing == "" {
		w.log.Info("keyspace notifications active", "flags", res.flags)
		return
	}
	w.log.Warn("keyspace notifications incomplete: the server lacks needed flags; the worker relies on RECONCILE_SCHEDULE for the rest",
		"flags", res.flags, "missing", res.missing, "cost", costs(res.missing),
		"fix", fmt.Sprintf("KEYSPACE_EVENTS=configure, or CONFIG SET %s %q", configParam, unionFlags(res.flags)))
}

func flagsOrUnknown(res flagCheck) string {
	if !res.known {
		return "unknown"
	}
	return res.flags
}
