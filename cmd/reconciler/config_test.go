package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEmbeddedWhenNothingConfigured(t *testing.T) {
	s, err := loadSettings(envOf(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Embedded || s.Worker.HTTPAddr != "127.0.0.1:8080" || !s.Worker.Embedded {
		t.Fatalf("nothing configured: embedded %v on %s, want the embedded demo on 127.0.0.1:8080", s.Embedded, s.Worker.HTTPAddr)
	}
	if s.Worker.Rules.MaxLockAge != 24*time.Hour || s.Worker.Tasks.ReconcileDeadline != 10*time.Second ||
		s.Worker.Tasks.RestoreDeadline != 5*time.Second || s.LockPrefix != "spool_lock:" || s.Location.String() != "America/Santiago" {
		t.Fatalf("defaults differ from docs/design.md: %+v", s)
	}
}

func TestProductionRefusesEmbedded(t *testing.T) {
	for _, env := range []map[string]string{{"APP_ENV": "production"}, {"RAILWAY_ENVIRONMENT": "production"}} {
		_, err := loadSettings(envOf(env), true)
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL is not set") || !strings.Contains(err.Error(), "no sheet configured") {
			t.Fatalf("%v: err %v, want REDIS_URL and sheet problems", env, err)
		}
	}
}

func TestEveryProblemNamedAtOnce(t *testing.T) {
	_, err := loadSettings(envOf(map[string]string{
		"REDIS_URL":                   "http://example",
		"SHEET_CSV":                   "/nonexistent/x.csv",
		"TIMEZONE":                    "Mars/Olympus",
		"RECONCILE_DEADLINE":          "1500ms",
		"RESTORE_DEADLINE":            "0",
		"MAX_LOCK_AGE":                "forever",
		"RECONCILE_SCHEDULE":          "every tuesday",
		"KEYSPACE_EVENTS":             "sometimes",
		"SHEETS_MAX_READS_PER_MINUTE": "-3",
		"ORPHAN_GRACE":                "soon",
		"PORT":                        "99999",
		"LOG_LEVEL":                   "loud",
		"PPROF":                       "maybe",
	}), true)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, name := range []string{"REDIS_URL", "SHEET_CSV", "TIMEZONE", "RECONCILE_DEADLINE", "RESTORE_DEADLINE",
		"MAX_LOCK_AGE", "RECONCILE_SCHEDULE", "KEYSPACE_EVENTS", "SHEETS_MAX_READS_PER_MINUTE", "ORPHAN_GRACE", "PORT", "LOG_LEVEL", "PPROF"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
}

func TestSecretsNeverEchoed(t *testing.T) {
	const password = "s3cr3t-pa55"
	const key = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg"
	_, err := loadSettings(envOf(map[string]string{
		"REDIS_URL":                           "redis://user:" + password + "@host:6379/notanumber",
		"GOOGLE_SHEET_ID":                     "sheet",
		"GOOGLE_APPLICATION_CREDENTIALS_JSON": `{"type":"service_account","private_key":"` + key + `"}`,
	}), true)
	if err == nil {
		t.Fatal("bad REDIS_URL and credentials accepted")
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "MIIEvQ") {
		t.Fatalf("a secret reached the error:\n%v", err)
	}
	if !strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS_JSON") {
		t.Fatalf("the error does not name the variables:\n%v", err)
	}
	if got := redact("dial redis://u:"+password+"@h: refused", "redis://u:"+password+"@h:6379"); strings.Contains(got, password) {
		t.Fatalf("redact left the password in %q", got)
	}
}

func TestSheetWithoutRedisIsAnError(t *testing.T) {
	_, err := loadSettings(envOf(map[string]string{"GOOGLE_SHEET_ID": "x", "SHEETS_ENDPOINT": "http://127.0.0.1:1/"}), true)
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL is not set while a sheet is configured") {
		t.Fatalf("a sheet without REDIS_URL: %v", err)
	}
}

func TestEnqueueNeedsNoSheet(t *testing.T) {
	s, err := loadSettings(envOf(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}), false)
	if err != nil || s.RedisURL == "" {
		t.Fatalf("enqueue with only REDIS_URL: %v", err)
	}
}

func TestUsageExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicate"}, envOf(nil), &out, &errb); code != exitUsage {
		t.Fatalf("unknown command: exit %d, want %d", code, exitUsage)
	}
	if code := run([]string{"plan", "--no-such-flag"}, envOf(nil), &out, &errb); code != exitUsage {
		t.Fatalf("plan with a bad flag: exit %d, want %d", code, exitUsage)
	}
	if code := run([]string{"plan", "extra"}, envOf(nil), &out, &errb); code != exitUsage {
		t.Fatalf("plan with an argument: exit %d, want %d", code, exitUsage)
	}
	out.Reset()
	if code := run([]string{"version"}, envOf(nil), &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "reconciler ") {
		t.Fatalf("version: exit %d, output %q", code, out.String())
	}
}

// TestLockPrefixMayNotOverlapOwnKeys: a prefix that matches the reconciler's or asynq's keys
// (or is matched by them) would make the lock scan take those keys for locks.
func TestLockPrefixMayNotOverlapOwnKeys(t *testing.T) {
	for _, prefix := range []string{"reconciler:", "reconciler:released:", "rec", "asynq:", "asynq:{restore}:", "a"} {
		_, err := loadSettings(envOf(map[string]string{"LOCK_KEY_PREFIX": prefix}), true)
		if err == nil || !strings.Contains(err.Error(), "LOCK_KEY_PREFIX") || !strings.Contains(err.Error(), `"spool_lock:"`) {
			t.Errorf("LOCK_KEY_PREFIX=%q: err %v, want an error naming the variable and the fix", prefix, err)
		}
	}
	for _, prefix := range []string{"spool_lock:", "lk:", "reconciler_lock:", "asynq_spool:"} {
		if s, err := loadSettings(envOf(map[string]string{"LOCK_KEY_PREFIX": prefix}), true); err != nil || s.LockPrefix != prefix {
			t.Errorf("LOCK_KEY_PREFIX=%q refused: %v", prefix, err)
		}
	}
}

// TestLongReleaseSettleKeepsItsTombstones: a RELEASE_SETTLE longer than the default tombstone
// TTL gets tombstones that outlive settle + staleness instead of being silently cut short.
func TestLongReleaseSettleKeepsItsTombstones(t *testing.T) {
	s, err := loadSettings(envOf(map[string]string{"RELEASE_SETTLE": "20m", "RESTORE_MAX_STALENESS": "2m"}), true)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := newStore(nil, s).TombstoneTTL(); ttl < 22*time.Minute {
		t.Fatalf("tombstone TTL %v with RELEASE_SETTLE 20m and RESTORE_MAX_STALENESS 2m: the window is cut short", ttl)
	}
	// Restore markers are read for as long as a restore keeps them.
	if ttl := newStore(nil, s).MarkerTTL(); ttl != 35*time.Minute {
		t.Fatalf("marker TTL %v with RELEASE_SETTLE 20m, want 35m", ttl)
	}
	s, err = loadSettings(envOf(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := newStore(nil, s).TombstoneTTL(); ttl != 10*time.Minute {
		t.Fatalf("default tombstone TTL %v, want the 10 min default", ttl)
	}
	if ttl := newStore(nil, s).MarkerTTL(); ttl != 16*time.Minute {
		t.Fatalf("default marker TTL %v, want 16m", ttl)
	}
}

func TestOrphanGrace(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 10 * time.Minute, "off": 0, "OFF": 0, "90s": 90 * time.Second, "30": 30 * time.Second} {
		s, err := loadSettings(envOf(map[string]string{"ORPHAN_GRACE": v}), true)
		if err != nil || s.Worker.OrphanGrace != want {
			t.Errorf("ORPHAN_GRACE=%q: %v, %v; want %v", v, s.Worker.OrphanGrace, err, want)
		}
		short := want > 0 && want < time.Minute
		if len(s.Warnings) != 0 && !short || short && (len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "under a minute") ||
			!strings.Contains(s.Warnings[0], "~10 s")) {
			t.Errorf("ORPHAN_GRACE=%q: warnings %v", v, s.Warnings)
		}
	}
	// Exactly a minute is not short.
	if s, err := loadSettings(envOf(map[string]string{"ORPHAN_GRACE": "1m"}), true); err != nil || len(s.Warnings) != 0 {
		t.Errorf("ORPHAN_GRACE=1m: %v, warnings %v", err, s.Warnings)
	}
	// A leftover ORPHAN_CLEANUP does not stop the worker: it gets a warning naming what
	// replaced it and what applies now.
	s, err := loadSettings(envOf(map[string]string{"ORPHAN_CLEANUP": "false"}), true)
	if err != nil || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "ORPHAN_GRACE replaced it") ||
		!strings.Contains(s.Warnings[0], "10m0s") || !strings.Contains(s.Warnings[0], "ORPHAN_GRACE=off") {
		t.Fatalf("ORPHAN_CLEANUP: %v, warnings %q", err, s.Warnings)
	}
}

func TestPprofSwitch(t *testing.T) {
	for v, want := range map[string]bool{"": false, "off": false, "on": true, "ON": true, "true": true, "0": false} {
		s, err := loadSettings(envOf(map[string]string{"PPROF": v}), true)
		if err != nil || s.Worker.Pprof != want {
			t.Errorf("PPROF=%q: %v, %v; want %v", v, s.Worker.Pprof, err, want)
		}
	}
}
