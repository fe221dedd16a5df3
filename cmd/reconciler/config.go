package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"reconciler/adapters/keyspace"
	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/schedules"
	"reconciler/worker"
)

// settings is the whole configuration, read from the environment (docs/design.md's table) and
// validated in one pass so that every problem is reported at once.
type settings struct {
	RedisURL       string
	SheetID        string
	SheetName      string
	Credentials    []byte // decoded service-account JSON; never logged
	SheetsEndpoint string
	SheetCSV       string
	Location       *time.Location
	LockPrefix     string
	Schedule       string // "off" or a cron spec
	KeyspaceEvents string
	KeyspaceMode   keyspace.Mode
	MaxReadsPerMin int
	HistoryMax     int // HISTORY_MAX; -1: off
	Port           int
	LogLevel       string
	LogFormat      string
	Production     bool
	Embedded       bool // no Redis and no sheet configured, outside production
	// Warnings are settings that still work but deserve a line in the log at start.
	Warnings []string

	Worker worker.Config
}

// configError lists every invalid variable with its fix.
type configError []string

func (e configError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e, "\n  - ")
}

// loadSettings reads the configuration through getenv; needSheet is false for commands that
// only talk to Redis. It never includes a secret's value in an error.
func loadSettings(getenv func(string) string, needSheet bool) (settings, error) {
	var problems configError
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	s := settings{
		RedisURL:       env("REDIS_URL", ""),
		SheetID:        env("GOOGLE_SHEET_ID", ""),
		SheetName:      env("HOJA_OPERACIONES_NOMBRE", "Operaciones"),
		SheetsEndpoint: env("SHEETS_ENDPOINT", ""),
		SheetCSV:       env("SHEET_CSV", ""),
		LockPrefix:     getenv("LOCK_KEY_PREFIX"),
		Schedule:       env("RECONCILE_SCHEDULE", "*/5 * * * *"),
		KeyspaceEvents: strings.ToLower(env("KEYSPACE_EVENTS", "auto")),
		LogLevel:       env("LOG_LEVEL", "info"),
		LogFormat:      env("LOG_FORMAT", "auto"),
		Production:     strings.EqualFold(env("APP_ENV", ""), "production") || env("RAILWAY_ENVIRONMENT", "") != "",
	}
	if s.LockPrefix == "" {
		s.LockPrefix = redislock.DefaultPrefix
	}
	if err := redislock.CheckPrefix(s.LockPrefix); err != nil {
		bad("LOCK_KEY_PREFIX %q %v: lock keys and the worker's own keys would be taken for each other; use the backend's prefix (default %q)",
			s.LockPrefix, err, redislock.DefaultPrefix)
	}

	tz := env("TIMEZONE", "America/Santiago")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		bad("TIMEZONE %q is not a known zone: use an IANA name such as America/Santiago", tz)
		loc = time.UTC
	}
	s.Location = loc

	if s.RedisURL != "" {
		if err := checkRedisURL(s.RedisURL); err != nil {
			bad("REDIS_URL %v: use redis://[user:password@]host:port[/db] or rediss://…", err)
		}
	}
	if s.SheetsEndpoint != "" {
		if u, err := url.Parse(s.SheetsEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("SHEETS_ENDPOINT %q is not a full URL: use e.g. http://127.0.0.1:8085/", s.SheetsEndpoint)
		} else if !strings.HasSuffix(s.SheetsEndpoint, "/") {
			s.SheetsEndpoint += "/"
		}
	}
	s.Credentials = loadCredentials(getenv, s.SheetID != "" && s.SheetsEndpoint == "" && s.SheetCSV == "", bad)
	if s.SheetID != "" && s.SheetCSV != "" {
		bad("GOOGLE_SHEET_ID and SHEET_CSV are both set: keep one (SHEET_CSV reads a CSV export instead of the API)")
	}
	if s.SheetCSV != "" {
		if _, err := os.Stat(s.SheetCSV); err != nil {
			bad("SHEET_CSV %q cannot be read: %v", s.SheetCSV, errors.Unwrap(err))
		}
	}

	sheetConfigured := s.SheetID != "" || s.SheetCSV != ""
	switch {
	case s.RedisURL == "" && !sheetConfigured && !s.Production:
		s.Embedded = true
	case s.RedisURL == "" && s.Production:
		bad("REDIS_URL is not set: in production (APP_ENV=production or on Railway) the embedded Redis is not allowed; reference the Redis service's URL")
	case s.RedisURL == "" && needSheet:
		bad("REDIS_URL is not set while a sheet is configured: point it at the backend's Redis (or unset the sheet to run the embedded demo)")
	}
	if !sheetConfigured && !s.Embedded && needSheet {
		bad("no sheet configured: set GOOGLE_SHEET_ID (with GOOGLE_APPLICATION_CREDENTIALS_JSON) or SHEET_CSV")
	}

	rules := jobs.DefaultRules
	rules.MaxLockAge = duration(env, "MAX_LOCK_AGE", "24h", false, bad)
	w := worker.Config{
		Rules: rules,
		Tasks: jobs.Tasks{
			ReconcileDeadline: duration(env, "RECONCILE_DEADLINE", "10s", true, bad),
			RestoreDeadline:   duration(env, "RESTORE_DEADLINE", "5s", true, bad),
		},
		RestoreMaxStaleness: duration(env, "RESTORE_MAX_STALENESS", "60s", false, bad),
		ReleaseSettle:       duration(env, "RELEASE_SETTLE", "60s", false, bad),
		OrphanGrace:         orphanGrace(env, bad),
		Concurrency:         positiveInt(env, "WORKER_CONCURRENCY", "10", bad),
		ShutdownTimeout:     5 * time.Second,
		MonitorUser:         env("MONITOR_USER", "admin"),
		MonitorPassword:     getenv("MONITOR_PASSWORD"),
		Pprof:               onOff(env, "PPROF", "off", bad),
		Embedded:            s.Embedded,
	}
	if getenv("ORPHAN_CLEANUP") != "" {
		// Not an error: a Railway project shares its variables with the backend's deploys, and
		// a leftover must not stop the worker. ORPHAN_GRACE has a default, so say what applies.
		s.Warnings = append(s.Warnings, fmt.Sprintf("ORPHAN_CLEANUP is no longer read: ORPHAN_GRACE replaced it "+
			"(orphan locks are released after %s unbacked by the sheet; ORPHAN_GRACE=off never releases them); unset ORPHAN_CLEANUP",
			graceLabel(w.OrphanGrace)))
	}
	if w.OrphanGrace > 0 && w.OrphanGrace < minOrphanGrace {
		// Allowed (tests and drills use seconds), but a lock the backend has just written is
		// unbacked until its row write lands, and that write retries for up to ~10 s.
		s.Warnings = append(s.Warnings, fmt.Sprintf("ORPHAN_GRACE is %s, under a minute: the backend writes a lock before "+
			"its row and its row write retries for up to ~10 s (plus the sheet's read lag), so a live lock can be released "+
			"as an orphan; use 10m (the default) unless this is a test (a bare number is seconds)", w.OrphanGrace))
	}
	s.MaxReadsPerMin = positiveInt(env, "SHEETS_MAX_READS_PER_MINUTE", "30", bad)
	s.HistoryMax = historyMax(env, bad)
	w.MaxReadsPerMinute = s.MaxReadsPerMin
	s.Port = positiveInt(env, "PORT", "8080", bad)
	if s.Port > 65535 {
		bad("PORT %d is not a TCP port: use 1-65535", s.Port)
	}
	host := "0.0.0.0"
	if s.Embedded {
		host = "127.0.0.1"
	}
	w.HTTPAddr = host + ":" + strconv.Itoa(s.Port)
	s.Worker = w

	spec, err := schedules.Parse(s.Schedule)
	if err != nil {
		bad("%v", err)
	}
	s.Worker.Schedule, s.Worker.Location = spec, s.Location
	if s.KeyspaceMode, err = keyspace.ParseMode(s.KeyspaceEvents); err != nil {
		bad("%v", err)
	}
	if s.Embedded && strings.TrimSpace(getenv("KEYSPACE_EVENTS")) == "" {
		s.KeyspaceMode = keyspace.ModeOff // the in-process Redis has no keyspace notifications
	}
	if _, err := worker.NewLogger(os.Stderr, s.LogLevel, s.LogFormat); err != nil {
		bad("%v", err)
	}
	if len(problems) > 0 {
		return s, problems
	}
	return s, nil
}

// loadCredentials decodes GOOGLE_APPLICATION_CREDENTIALS_JSON (raw or base64) or reads
// GOOGLE_APPLICATION_CREDENTIALS. The JSON holds a private key: errors name the variable only.
func loadCredentials(getenv func(string) string, required bool, bad func(string, ...any)) []byte {
	raw := strings.TrimSpace(getenv("GOOGLE_APPLICATION_CREDENTIALS_JSON"))
	path := strings.TrimSpace(getenv("GOOGLE_APPLICATION_CREDENTIALS"))
	switch {
	case raw != "":
		creds, err := sheets.DecodeCredentials(raw)
		if err != nil {
			bad("GOOGLE_APPLICATION_CREDENTIALS_JSON is not a service-account JSON, raw or base64 (%v): paste the key file's contents", err)
			return nil
		}
		return creds
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			bad("GOOGLE_APPLICATION_CREDENTIALS %q cannot be read: %v", path, errors.Unwrap(err))
			return nil
		}
		creds, err := sheets.DecodeCredentials(string(b))
		if err != nil {
			bad("GOOGLE_APPLICATION_CREDENTIALS %q is not a service-account JSON (%v)", path, err)
			return nil
		}
		return creds
	case required:
		bad("GOOGLE_SHEET_ID is set but no credentials: set GOOGLE_APPLICATION_CREDENTIALS_JSON (the service account's JSON key, raw or base64) or GOOGLE_APPLICATION_CREDENTIALS (its path)")
	}
	return nil
}

// checkRedisURL validates the URL without ever echoing its password.
func checkRedisURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("has scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return errors.New("has a database that is not a number")
		}
	}
	return nil
}

// duration accepts Go durations ("90s", "24h") and bare numbers of seconds.
func duration(env func(string, string) string, name, def string, wholeSeconds bool, bad func(string, ...any)) time.Duration {
	v := env(name, def)
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			bad("%s %q is not a duration: use e.g. %s", name, v, def)
			return mustDuration(def)
		}
		d = time.Duration(n) * time.Second
	}
	switch {
	case d <= 0:
		bad("%s %q must be positive", name, v)
		return mustDuration(def)
	case wholeSeconds && (d < time.Second || d%time.Second != 0):
		bad("%s %q must be whole seconds, at least 1s (asynq turns shorter timeouts into 30 minutes)", name, v)
		return mustDuration(def)
	}
	return d
}

func mustDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

func positiveInt(env func(string, string) string, name, def string, bad func(string, ...any)) int {
	v := env(name, def)
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		bad("%s %q must be a positive whole number (default %s)", name, v, def)
		n, _ = strconv.Atoi(def)
	}
	return n
}

// minOrphanGrace is the ORPHAN_GRACE under which the worker warns at start.
const minOrphanGrace = time.Minute

// orphanGrace reads ORPHAN_GRACE: a duration (default 10m) or "off" (0: never release;
// sightings are still recorded, so replicas that release keep their ages).
func orphanGrace(env func(string, string) string, bad func(string, ...any)) time.Duration {
	if strings.EqualFold(env("ORPHAN_GRACE", "10m"), "off") {
		return 0
	}
	return duration(env, "ORPHAN_GRACE", "10m", false, bad)
}

func graceLabel(d time.Duration) string {
	if d == 0 {
		return "never (off)"
	}
	return d.String()
}

// historyMax reads HISTORY_MAX: the history stream's cap (default 100000), or "off" (or 0) for
// no history at all (-1).
func historyMax(env func(string, string) string, bad func(string, ...any)) int {
	v := env("HISTORY_MAX", strconv.Itoa(redislock.DefaultHistoryMax))
	if strings.EqualFold(v, "off") || v == "0" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		bad("HISTORY_MAX %q must be a positive whole number of entries, or off (default %d)", v, redislock.DefaultHistoryMax)
		return redislock.DefaultHistoryMax
	}
	return n
}

// onOff reads a switch: "on" or "off" (any case; also true/false, 1/0), def when unset.
func onOff(env func(string, string) string, name, def string, bad func(string, ...any)) bool {
	switch v := strings.ToLower(strings.TrimSpace(env(name, def))); v {
	case "on", "true", "1":
		return true
	case "off", "false", "0", "":
		return false
	default:
		bad("%s %q is not on or off (default %s)", name, v, def)
		return false
	}
}
