package keyspace

import "strings"

// neededFlags are the notify-keyspace-events flags the worker needs: K (keyspace channel),
// g (generic: del), x (expired), e (evicted), $ (string commands: set).
const neededFlags = "Kgxe$"

// allAlias is what the flag A stands for (Redis 7 notify.c NOTIFY_ALL: every event class;
// not K/E, and not m (key miss) or n (new key)).
const allAlias = "g$lshzxetd"

// flagCosts says what the worker loses without each needed flag.
var flagCosts = map[byte]string{
	'K': "no keyspace events at all: expired or evicted locks wait for the next schedule tick, and releases leave no tombstones (a restore from a stale sheet may bring a released lock back until its verifying look, RELEASE_SETTLE + 1 s later, takes it back)",
	'g': "no del events: releases leave no tombstones, so a restore from a stale sheet may bring a released lock back until its verifying look, RELEASE_SETTLE + 1 s later, takes it back",
	'x': "no expired events: expired locks wait for the next schedule tick",
	'e': "no evicted events: evicted locks wait for the next schedule tick",
	'$': "no set events: a re-taken spool keeps its release tombstone until it expires, so a lock lost right after a re-take comes back only after RELEASE_SETTLE",
}

// hasFlag reports whether a notify-keyspace-events value enables flag f, expanding A.
func hasFlag(flags string, f byte) bool {
	if strings.IndexByte(flags, f) >= 0 {
		return true
	}
	return strings.IndexByte(flags, 'A') >= 0 && strings.IndexByte(allAlias, f) >= 0
}

// missingFlags returns the needed flags that flags lacks, in neededFlags order.
func missingFlags(flags string) string {
	var b strings.Builder
	for i := 0; i < len(neededFlags); i++ {
		if !hasFlag(flags, neededFlags[i]) {
			b.WriteByte(neededFlags[i])
		}
	}
	return b.String()
}

// unionFlags keeps every existing flag (A, E, l, m, …) exactly as the server reported it and
// appends the missing needed ones, so a CONFIG SET never switches off what others rely on.
// It does not expand A: older servers reject letters they do not know.
func unionFlags(existing string) string {
	return existing + missingFlags(existing)
}

// missingKinds maps missing flags to the event kinds that will not arrive.
func missingKinds(missing string) []Kind {
	if missing == "" {
		return nil
	}
	if strings.IndexByte(missing, 'K') >= 0 {
		return append([]Kind(nil), Kinds...)
	}
	var kinds []Kind
	for _, pair := range []struct {
		flag byte
		kind Kind
	}{{'g', KindDel}, {'x', KindExpired}, {'e', KindEvicted}, {'$', KindSet}} {
		if strings.IndexByte(missing, pair.flag) >= 0 {
			kinds = append(kinds, pair.kind)
		}
	}
	return kinds
}

// costs describes what missing flags cost, one clause per flag (only K's when K is missing:
// without the channel nothing else matters).
func costs(missing string) string {
	if strings.IndexByte(missing, 'K') >= 0 {
		return "K: " + flagCosts['K']
	}
	parts := make([]string, 0, len(missing))
	for i := 0; i < len(missing); i++ {
		parts = append(parts, string(missing[i])+": "+flagCosts[missing[i]])
	}
	return strings.Join(parts, "; ")
}
