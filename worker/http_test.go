package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
)

const (
	testUser     = "operator"
	testPassword = "correct horse battery staple"
)

var santiago = func() *time.Location {
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		panic(err)
	}
	return loc
}()

// testSheet is a small Operaciones sheet: three fresh occupations (candidates), one free row
// and one row whose holder has no (ID).
func testSheet(now time.Time) (grid [][]any, candidates []string) {
	at := func(ago time.Duration) string { return now.Add(-ago).In(santiago).Format("02-01-2006 15:04:05") }
	grid = [][]any{
		{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"},
		{"HTTP-001", "MR(93)", at(time.Hour)},
		{"HTTP-002", "JP(7)", at(2 * time.Hour)},
		{"HTTP-003", "AB(12)", at(3 * time.Hour)},
		{"HTTP-004", "DISPONIBLE", ""},
		{"HTTP-005", "sin id", at(time.Hour)},
	}
	return grid, []string{"HTTP-001", "HTTP-002", "HTTP-003"}
}

// testWorker is a Worker on a real redis-server with a static sheet.
type testWorker struct {
	*Worker
	rds   *redisserver.Server
	rdb   *redis.Client
	store *redislock.Store
}

func newTestWorker(t *testing.T, edit func(*Config)) *testWorker {
	t.Helper()
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{
		Addr: rds.Addr(), PoolSize: 16, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	cfg := Config{
		Rules:               jobs.DefaultRules,
		Tasks:               jobs.DefaultTasks,
		RestoreMaxStaleness: time.Minute,
		ReleaseSettle:       time.Minute,
		Concurrency:         4,
		MaxReadsPerMinute:   1000,
		ShutdownTimeout:     3 * time.Second,
		HTTPAddr:            "127.0.0.1:0",
		MonitorUser:         testUser,
		MonitorPassword:     testPassword,
	}
	if edit != nil {
		edit(&cfg)
	}
	logs := &logbuffer.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	grid, _ := testSheet(time.Now())
	store := redislock.New(rdb, redislock.Options{Location: santiago})
	w := New(cfg, log, Parts{Redis: rdb, Sheet: sheets.NewStatic(grid, santiago), Store: store})
	return &testWorker{Worker: w, rds: rds, rdb: rdb, store: store}
}

// run starts the whole worker (task server, HTTP, boot reconcile) and stops it when the test
// ends; it returns the base URL of its HTTP server.
func (tw *testWorker) run(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of cancel")
		}
	})
	if !eventually(10*time.Second, func() bool { return tw.Addr() != nil }) {
		t.Fatal("the worker did not start listening within 10s")
	}
	return "http://" + tw.Addr().String()
}

func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return cond()
}

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, body io.Reader, edit func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func basicAuth(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// countSecrets replaces equalSecret for the test with a wrapper that records what each call
// compared against.
func countSecrets(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var wants []string
	orig := equalSecret
	equalSecret = func(got, want string) bool {
		mu.Lock()
		wants = append(wants, want)
		mu.Unlock()
		return orig(got, want)
	}
	t.Cleanup(func() { equalSecret = orig })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := wants
		wants = nil
		return out
	}
}

// TestGuardBasicAuth: /monitor/ and POST /reconcile answer 401 with a WWW-Authenticate
// challenge to a missing header, a wrong user, a wrong password, and another scheme; the
// right pair gets through. Every request compares both the user and the password with
// equalSecret (constant time, both always compared: no early exit on a wrong user).
func TestGuardBasicAuth(t *testing.T) {
	tw := newTestWorker(t, nil)
	srv := httptest.NewServer(tw.Handler())
	defer srv.Close()
	compared := countSecrets(t)

	routes := []struct {
		method, path, okBody string
		ok                   int
	}{
		{"GET", "/monitor/", "Asynq", http.StatusOK},
		{"GET", "/monitor/api/queues", "queues", http.StatusOK},
		{"GET", "/monitor/queues/reconcile", "Asynq", http.StatusOK},
		{"POST", "/reconcile", "task_id", http.StatusAccepted},
	}
	denied := []struct {
		name string
		auth func(*http.Request)
	}{
		{"no header", nil},
		{"wrong user", basicAuth("admin", testPassword)},
		{"wrong password", basicAuth(testUser, "correct horse battery")},
		{"both wrong", basicAuth("admin", "admin")},
		{"empty pair", basicAuth("", "")},
		{"password as user", basicAuth(testPassword, testUser)},
		{"bearer scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testPassword) }},
		{"malformed basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }},
	}
	for _, rt := range routes {
		for _, d := range denied {
			t.Run(rt.method+" "+rt.path+" "+d.name, func(t *testing.T) {
				resp := do(t, rt.method, srv.URL+rt.path, nil, d.auth)
				if resp.code != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401; body %q", resp.code, resp.body)
				}
				if got := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="reconciler"`) {
					t.Fatalf("WWW-Authenticate %q, want a Basic challenge", got)
				}
				if strings.Contains(resp.body, testPassword) {
					t.Fatalf("the 401 body leaks the password: %q", resp.body)
				}
				if got := compared(); len(got) != 2 || got[0] != testUser || got[1] != testPassword {
					t.Fatalf("equalSecret compared against %q, want the user then the password", got)
				}
			})
		}
		t.Run(rt.method+" "+rt.path+" right pair", func(t *testing.T) {
			resp := do(t, rt.method, srv.URL+rt.path, nil, basicAuth(testUser, testPassword))
			if resp.code != rt.ok || !strings.Contains(resp.body, rt.okBody) {
				t.Fatalf("status %d, want %d with %q in the body; body %.200q", resp.code, rt.ok, rt.okBody, resp.body)
			}
			if got := compared(); len(got) != 2 || got[0] != testUser || got[1] != testPassword {
				t.Fatalf("equalSecret compared against %q, want the user then the password", got)
			}
		})
	}

	// The open routes need no auth.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp := do(t, "GET", srv.URL+path, nil, nil); resp.code != http.StatusOK {
			t.Errorf("GET %s without auth: %d, want 200", path, resp.code)
		}
	}
	if got := compared(); len(got) != 0 {
		t.Errorf("open routes compared secrets: %q", got)
	}
	// /monitor without the slash redirects into the guarded tree.
	if resp := do(t, "GET", srv.URL+"/monitor", nil, nil); resp.code != http.StatusMovedPermanently || resp.header.Get("Location") != "/monitor/" {
		t.Errorf("GET /monitor: %d to %q, want 301 to /monitor/", resp.code, resp.header.Get("Location"))
	}
}

func TestEqualSecret(t *testing.T) {
	cases := []struct {
		got, want string
		equal     bool
	}{
		{"s3cret", "s3cret", true},
		{"", "", true},
		{"s3cret", "s3cre", false},
		{"s3cre", "s3cret", false},
		{"S3cret", "s3cret", false},
		{"", "s3cret", false},
		{"s3cret\x00", "s3cret", false},
	}
	for _, c := range cases {
		if got := equalSecret(c.got, c.want); got != c.equal {
			t.Errorf("equalSecret(%q, %q) = %v, want %v", c.got, c.want, got, c.equal)
		}
	}
}

// TestGuardWithoutPassword: without MONITOR_PASSWORD the monitor and POST /reconcile are not
// served (404 with a body that says how to turn them on), credentials or not; in embedded
// mode they are open, but only to loopback requests addressed to a loopback host.
func TestGuardWithoutPassword(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		tw := newTestWorker(t, func(c *Config) { c.MonitorPassword = "" })
		srv := httptest.NewServer(tw.Handler())
		defer srv.Close()
		for _, auth := range []func(*http.Request){nil, basicAuth(testUser, ""), basicAuth(testUser, testPassword)} {
			for _, rt := range [][2]string{{"GET", "/monitor/"}, {"GET", "/monitor/api/queues"}, {"POST", "/reconcile"}} {
				resp := do(t, rt[0], srv.URL+rt[1], nil, auth)
				if resp.code != http.StatusNotFound || !strings.Contains(resp.body, "MONITOR_PASSWORD") {
					t.Errorf("%s %s without a password: %d %q, want 404 naming MONITOR_PASSWORD", rt[0], rt[1], resp.code, resp.body)
				}
			}
		}
		if n, _ := tw.rds.Do("LLEN", "asynq:{reconcile}:pending"); n != "0" {
			t.Errorf("POST /reconcile queued %s reconciles while off", n)
		}
		if resp := do(t, "GET", srv.URL+"/healthz", nil, nil); resp.code != http.StatusOK {
			t.Errorf("/healthz: %d", resp.code)
		}
	})

	t.Run("embedded", func(t *testing.T) {
		tw := newTestWorker(t, func(c *Config) { c.MonitorPassword, c.Embedded = "", true })
		srv := httptest.NewServer(tw.Handler())
		defer srv.Close()
		if resp := do(t, "GET", srv.URL+"/monitor/", nil, nil); resp.code != http.StatusOK || !strings.Contains(resp.body, "Asynq") {
			t.Errorf("embedded /monitor/ from 127.0.0.1: %d, want 200 with the UI", resp.code)
		}
		if resp := do(t, "POST", srv.URL+"/reconcile", nil, nil); resp.code != http.StatusAccepted {
			t.Errorf("embedded POST /reconcile from 127.0.0.1: %d %q, want 202", resp.code, resp.body)
		}
		localhost := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		if resp := do(t, "GET", localhost+"/monitor/api/queues", nil, nil); resp.code != http.StatusOK {
			t.Errorf("embedded /monitor/ via localhost: %d, want 200", resp.code)
		}
		// A DNS-rebinding page reaches 127.0.0.1 with its own host name.
		rebound := do(t, "GET", srv.URL+"/monitor/api/queues", nil, func(r *http.Request) { r.Host = "attacker.example:80" })
		if rebound.code != http.StatusNotFound {
			t.Errorf("embedded /monitor/ with Host attacker.example: %d, want 404", rebound.code)
		}
		// A request from another machine (were the port ever exposed).
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://127.0.0.1/monitor/", nil)
		req.RemoteAddr = "10.1.2.3:5555"
		tw.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("embedded /monitor/ from 10.1.2.3: %d, want 404", rec.Code)
		}
	})

	t.Run("embedded with a password", func(t *testing.T) {
		tw := newTestWorker(t, func(c *Config) { c.Embedded = true })
		srv := httptest.NewServer(tw.Handler())
		defer srv.Close()
		if resp := do(t, "GET", srv.URL+"/monitor/", nil, nil); resp.code != http.StatusUnauthorized {
			t.Errorf("embedded with MONITOR_PASSWORD, no auth: %d, want 401", resp.code)
		}
		if resp := do(t, "GET", srv.URL+"/monitor/", nil, basicAuth(testUser, testPassword)); resp.code != http.StatusOK {
			t.Errorf("embedded with MONITOR_PASSWORD, right auth: %d, want 200", resp.code)
		}
	})
}

// TestPostReconcile: the request forms POST /reconcile accepts, what it queues, and its 400s.
func TestPostReconcile(t *testing.T) {
	tw := newTestWorker(t, nil)
	srv := httptest.NewServer(tw.Handler())
	defer srv.Close()
	inspector := asynq.NewInspectorFromRedisClient(tw.rdb)
	auth := basicAuth(testUser, testPassword)
	withType := func(ct string) func(*http.Request) {
		return func(r *http.Request) { auth(r); r.Header.Set("Content-Type", ct) }
	}

	ok := []struct {
		name   string
		path   string
		body   string
		edit   func(*http.Request)
		spools []string
		dryRun bool
	}{
		{"json", "/reconcile", `{"spool": ["A-1", " B-2 "], "dry_run": true}`, withType("application/json"), []string{"A-1", "B-2"}, true},
		{"json charset", "/reconcile", `{"spool": ["C-3"]}`, withType("application/json; charset=utf-8"), []string{"C-3"}, false},
		{"empty json body", "/reconcile", ``, withType("application/json"), nil, false},
		{"form", "/reconcile", "spool=D-4&spool=E-5&dry_run=1", withType("application/x-www-form-urlencoded"), []string{"D-4", "E-5"}, true},
		{"query", "/reconcile?spool=F-6&dry_run=false", "", auth, []string{"F-6"}, false},
		{"nothing", "/reconcile", "", auth, nil, false},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			resp := do(t, "POST", srv.URL+c.path, strings.NewReader(c.body), c.edit)
			if resp.code != http.StatusAccepted {
				t.Fatalf("status %d, want 202; body %s", resp.code, resp.body)
			}
			var got struct {
				TaskID string   `json:"task_id"`
				Queue  string   `json:"queue"`
				Spool  []string `json:"spool"`
				DryRun bool     `json:"dry_run"`
			}
			if err := json.Unmarshal([]byte(resp.body), &got); err != nil || got.TaskID == "" || got.Queue != jobs.QueueReconcile {
				t.Fatalf("body %s: want a task id in queue %s (%v)", resp.body, jobs.QueueReconcile, err)
			}
			ti, err := inspector.GetTaskInfo(got.Queue, got.TaskID)
			if err != nil {
				t.Fatalf("the returned task %s is not queued: %v", got.TaskID, err)
			}
			p, err := jobs.DecodeReconcilePayload(ti.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if p.Trigger != jobs.TriggerManual || p.DryRun != c.dryRun || strings.Join(p.Spools, ",") != strings.Join(c.spools, ",") {
				t.Fatalf("queued %+v, want manual, spools %v, dry_run %v", p, c.spools, c.dryRun)
			}
			if ti.Type != jobs.TypeReconcile || ti.Retention != jobs.ResultRetention || ti.Timeout != 10*time.Second {
				t.Fatalf("task %s: type %s retention %v timeout %v, want %s, %v, 10s", ti.ID, ti.Type, ti.Retention, ti.Timeout,
					jobs.TypeReconcile, jobs.ResultRetention)
			}
		})
	}

	bad := []struct{ name, body, contentType, want string }{
		{"broken json", `{"spool": [`, "application/json", "decode JSON body"},
		{"unknown field", `{"spools": ["A"]}`, "application/json", "unknown field"},
		{"spool not a list", `{"spool": "A"}`, "application/json", "decode JSON body"},
		{"empty spool", `{"spool": ["A", "  "]}`, "application/json", "spool 2 is empty"},
		{"bad dry_run", "dry_run=maybe", "application/x-www-form-urlencoded", "dry_run"},
		{"too large", `{"spool": ["` + strings.Repeat("A", 2<<20) + `"]}`, "application/json", "decode JSON body"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			resp := do(t, "POST", srv.URL+"/reconcile", strings.NewReader(c.body), withType(c.contentType))
			if resp.code != http.StatusBadRequest || !strings.Contains(resp.body, c.want) {
				t.Fatalf("status %d body %.300s, want 400 mentioning %q", resp.code, resp.body, c.want)
			}
		})
	}
	if resp := do(t, "GET", srv.URL+"/reconcile", nil, auth); resp.code != http.StatusMethodNotAllowed {
		t.Errorf("GET /reconcile: %d, want 405", resp.code)
	}
}

// TestReadyzFollowsRedis: /readyz is 200 with the last report while Redis answers, 503 when
// the redis-server is killed, and 200 again once it is back; /healthz stays 200 throughout.
func TestReadyzFollowsRedis(t *testing.T) {
	tw := newTestWorker(t, nil)
	base := tw.run(t)
	_, candidates := testSheet(time.Now())

	var ready Readiness
	readyz := func() int {
		resp := do(t, "GET", base+"/readyz", nil, nil)
		ready = Readiness{}
		if err := json.Unmarshal([]byte(resp.body), &ready); err != nil {
			t.Fatalf("/readyz body %q: %v", resp.body, err)
		}
		if resp.header.Get("Content-Type") != "application/json" {
			t.Fatalf("/readyz Content-Type %q", resp.header.Get("Content-Type"))
		}
		return resp.code
	}
	if !eventually(15*time.Second, func() bool { return readyz() == http.StatusOK && ready.LastReport != nil }) {
		t.Fatalf("/readyz never showed the boot report: %+v", ready)
	}
	if r := ready.LastReport; !ready.Ready || ready.Redis != "ok" || r.Trigger != jobs.TriggerBoot || r.Rows != 5 ||
		r.Counts["candidate"] != len(candidates) || r.Counts["missing"] != len(candidates) || r.Counts["enqueued"] != len(candidates) || r.Problems != 1 || r.RunID == "" {
		t.Fatalf("/readyz = %+v, last report %+v; want ready with the boot report (5 rows, 3 missing and enqueued, 1 problem)", ready, *r)
	}

	tw.rds.Kill()
	start := time.Now()
	if !eventually(5*time.Second, func() bool { return readyz() == http.StatusServiceUnavailable }) {
		t.Fatalf("/readyz with Redis killed: still %+v after 5s", ready)
	}
	if ready.Ready || ready.Redis != "unreachable" || ready.LastReport != nil {
		t.Errorf("/readyz with Redis down = %+v, want not ready, redis unreachable", ready)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("/readyz took %v to notice Redis was gone", took)
	}
	if resp := do(t, "GET", base+"/healthz", nil, nil); resp.code != http.StatusOK {
		t.Errorf("/healthz with Redis down: %d, want 200 (the process is alive)", resp.code)
	}
	// The metrics page still answers (without queue sizes).
	if resp := do(t, "GET", base+"/metrics", nil, nil); resp.code != http.StatusOK {
		t.Errorf("/metrics with Redis down: %d, want 200", resp.code)
	}

	tw.rds.Restart()
	if !eventually(10*time.Second, func() bool { return readyz() == http.StatusOK }) {
		t.Fatalf("/readyz after Redis came back: %+v, want 200", ready)
	}
	if !ready.Ready || ready.Redis != "ok" {
		t.Errorf("/readyz after Redis came back = %+v", ready)
	}
	// The restarted Redis is empty: the restart is detected and the locks come back, and with
	// them a last report again.
	if !eventually(20*time.Second, func() bool { return countLocks(t, tw) == len(candidates) }) {
		t.Errorf("after the Redis restart %d locks are back, want %d", countLocks(t, tw), len(candidates))
	}
	if !eventually(10*time.Second, func() bool { return readyz() == http.StatusOK && ready.LastReport != nil }) {
		t.Errorf("/readyz after the restart reconcile: %+v, want a last report", ready)
	} else if ready.LastReport.Trigger != jobs.TriggerRedisRestart {
		t.Errorf("last report after the Redis restart has trigger %q, want %q", ready.LastReport.Trigger, jobs.TriggerRedisRestart)
	}
}

func countLocks(t *testing.T, tw *testWorker) int {
	out, err := tw.rds.Do("KEYS", "spool_lock:*")
	if err != nil || out == "" {
		return 0
	}
	return len(strings.Split(out, "\n"))
}

// metrics is one scrape of /metrics: series text (name{labels} as exposed) → value.
type metrics map[string]float64

func scrape(t *testing.T, url string) metrics {
	t.Helper()
	resp := do(t, "GET", url, nil, nil)
	if resp.code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.code)
	}
	m := metrics{}
	sc := bufio.NewScanner(strings.NewReader(resp.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// get returns the value of name with exactly these labels (label order as client_golang
// writes them: sorted by name), and whether the series exists.
func (m metrics) get(name string, labels ...string) (float64, bool) {
	key := name
	if len(labels) > 0 {
		pairs := make([]string, 0, len(labels)/2)
		for i := 0; i+1 < len(labels); i += 2 {
			pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
		}
		key += "{" + strings.Join(pairs, ",") + "}"
	}
	v, ok := m[key]
	return v, ok
}

func (m metrics) val(name string, labels ...string) float64 {
	v, _ := m.get(name, labels...)
	return v
}

// TestMetricsMoveAfterReconcile scrapes /metrics before the worker runs, lets the boot
// reconcile restore the missing locks, then a manual one through POST /reconcile, and checks
// that the docs/design.md metrics and the queue sizes moved as they should.
func TestMetricsMoveAfterReconcile(t *testing.T) {
	tw := newTestWorker(t, nil)
	srv := httptest.NewServer(tw.Handler()) // the same registry Run's server exports
	defer srv.Close()
	_, candidates := testSheet(time.Now())

	before := scrape(t, srv.URL+"/metrics")
	for _, o := range jobs.RestoreOutcomes {
		if v, ok := before.get("reconciler_restores_total", "outcome", string(o)); !ok || v != 0 {
			t.Errorf("before: reconciler_restores_total{outcome=%q} = %v (present %v), want 0 from the start", o, v, ok)
		}
	}
	if v := before.val("reconciler_runs_total", "outcome", "ok", "trigger", "boot"); v != 0 {
		t.Errorf("before: boot runs %v", v)
	}
	if v := before.val("reconciler_last_success_timestamp_seconds"); v != 0 {
		t.Errorf("before: last success %v, want 0", v)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "reconciler_last_success_timestamp_seconds"} {
		if _, ok := before.get(name); !ok {
			t.Errorf("before: %s is not exported", name)
		}
	}

	start := time.Now()
	base := tw.run(t)
	if !eventually(20*time.Second, func() bool {
		m := scrape(t, srv.URL+"/metrics")
		return m.val("reconciler_restores_total", "outcome", "restored") == float64(len(candidates)) &&
			m.val("reconciler_queue_tasks", "queue", "restore", "state", "completed") == float64(len(candidates))
	}) {
		t.Fatalf("restores never reached %d:\n%v", len(candidates), scrape(t, srv.URL+"/metrics"))
	}
	after := scrape(t, srv.URL+"/metrics")
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"reconciler_runs_total", []string{"outcome", "ok", "trigger", "boot"}, 1},
		{"reconciler_restores_total", []string{"outcome", "restored"}, float64(len(candidates))},
		{"reconciler_restores_total", []string{"outcome", "holder_mismatch"}, 0},
		{"reconciler_rows", []string{"class", "candidate"}, float64(len(candidates))},
		{"reconciler_rows", []string{"class", "free"}, 1},
		{"reconciler_rows", []string{"class", "invalid_holder"}, 1},
		{"reconciler_run_duration_seconds_count", []string{"trigger", "boot"}, 1},
		{"reconciler_queue_tasks", []string{"queue", "reconcile", "state", "completed"}, 1},
		{"reconciler_queue_tasks", []string{"queue", "restore", "state", "completed"}, float64(len(candidates))},
		{"reconciler_queue_tasks", []string{"queue", "restore", "state", "pending"}, 0},
		{"reconciler_queue_tasks", []string{"queue", "reconcile", "state", "archived"}, 0},
	}
	for _, c := range checks {
		if v, ok := after.get(c.name, c.labels...); !ok || v != c.want {
			t.Errorf("after boot: %s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	last := after.val("reconciler_last_success_timestamp_seconds")
	if at := time.UnixMilli(int64(last * 1000)); at.Before(start.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("last success %v (%v), want between %v and now", last, at, start)
	}

	// One lock is lost; a manual reconcile through the HTTP API puts it back.
	tw.rds.MustDo("DEL", "spool_lock:"+candidates[1])
	time.Sleep(10 * time.Millisecond) // so that the next success is a later timestamp
	resp := do(t, "POST", base+"/reconcile", nil, basicAuth(testUser, testPassword))
	if resp.code != http.StatusAccepted {
		t.Fatalf("POST /reconcile: %d %s", resp.code, resp.body)
	}
	if !eventually(20*time.Second, func() bool {
		m := scrape(t, srv.URL+"/metrics")
		return m.val("reconciler_runs_total", "outcome", "ok", "trigger", "manual") == 1 &&
			m.val("reconciler_restores_total", "outcome", "restored") == float64(len(candidates)+1)
	}) {
		t.Fatalf("the manual reconcile did not move the metrics:\n%v", scrape(t, srv.URL+"/metrics"))
	}
	manual := scrape(t, srv.URL+"/metrics")
	if v := manual.val("reconciler_last_success_timestamp_seconds"); v <= last {
		t.Errorf("last success %v did not move past %v after the manual run", v, last)
	}
	if v := manual.val("reconciler_runs_total", "outcome", "ok", "trigger", "boot"); v != 1 {
		t.Errorf("boot runs %v after the manual run, want still 1", v)
	}
	if !eventually(5*time.Second, func() bool {
		return scrape(t, srv.URL+"/metrics").val("reconciler_queue_tasks", "queue", "reconcile", "state", "completed") == 2
	}) {
		t.Errorf("completed reconciles in the queue: %v, want 2",
			scrape(t, srv.URL+"/metrics").val("reconciler_queue_tasks", "queue", "reconcile", "state", "completed"))
	}
	if got := tw.rds.MustDo("EXISTS", "spool_lock:"+candidates[1]); got != "1" {
		t.Errorf("the lost lock was not restored")
	}
}

// TestMonitorShowsReports: the reconcile's report is its task result, kept for a day, and
// asynqmon's API (what the UI renders) serves it as indented JSON; restore results too.
func TestMonitorShowsReports(t *testing.T) {
	tw := newTestWorker(t, nil)
	base := tw.run(t)
	_, candidates := testSheet(time.Now())
	auth := basicAuth(testUser, testPassword)

	type task struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Payload string `json:"payload"`
		Result  string `json:"result"`
	}
	list := func(queue string) []task {
		resp := do(t, "GET", base+"/monitor/api/queues/"+queue+"/completed_tasks?page_size=100", nil, auth)
		if strings.Contains(resp.body, "queue not found") {
			return nil // nothing queued there yet
		}
		if resp.code != http.StatusOK {
			t.Fatalf("completed %s tasks: %d %s", queue, resp.code, resp.body)
		}
		var body struct {
			Tasks []task `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
			t.Fatalf("completed %s tasks: %v in %s", queue, err, resp.body)
		}
		return body.Tasks
	}
	var reconciles, restores []task
	if !eventually(20*time.Second, func() bool {
		reconciles, restores = list(jobs.QueueReconcile), list(jobs.QueueRestore)
		return len(reconciles) == 1 && len(restores) == len(candidates)
	}) {
		t.Fatalf("completed tasks: %d reconciles, %d restores; want 1 and %d", len(reconciles), len(restores), len(candidates))
	}
	rec := reconciles[0]
	for _, want := range []string{"\n  \"trigger\": \"boot\",", "\n  \"missing\": 3,", "\n  \"enqueued\": 3,", "\n  \"problems\": [\n    {"} {
		if !strings.Contains(rec.Result, want) {
			t.Errorf("the reconcile's result in asynqmon lacks %q:\n%s", want, rec.Result)
		}
	}
	if !strings.Contains(rec.Payload, "\n  \"trigger\": \"boot\"") {
		t.Errorf("the reconcile's payload is not indented JSON: %q", rec.Payload)
	}
	var rep jobs.Report
	if err := json.Unmarshal([]byte(rec.Result), &rep); err != nil || rep.RunID != rec.ID {
		t.Errorf("the result is not the report of run %s: %v %+v", rec.ID, err, rep)
	}
	for _, r := range restores {
		if !strings.Contains(r.Result, "\n  \"outcome\": \"restored\"") {
			t.Errorf("restore %s result: %q, want indented JSON with outcome restored", r.ID, r.Result)
		}
	}
	// One task's page (the UI's task details view).
	resp := do(t, "GET", base+"/monitor/api/queues/reconcile/tasks/"+url.PathEscape(rec.ID), nil, auth)
	if resp.code != http.StatusOK || !strings.Contains(resp.body, `\"trigger\": \"boot\"`) {
		t.Errorf("task details: %d %.300s", resp.code, resp.body)
	}
	ti, err := asynq.NewInspectorFromRedisClient(tw.rdb).GetTaskInfo(jobs.QueueReconcile, rec.ID)
	if err != nil || ti.Retention != 24*time.Hour {
		t.Errorf("reconcile task retention: %v (%v), want 24h", ti, err)
	}
}

// TestHandlerTwice: building the handler again (Run builds its own) must not panic on the
// queue-size collector's registration.
func TestHandlerTwice(t *testing.T) {
	tw := newTestWorker(t, nil)
	a, b := httptest.NewServer(tw.Handler()), httptest.NewServer(tw.Handler())
	defer a.Close()
	defer b.Close()
	for _, s := range []*httptest.Server{a, b} {
		if resp := do(t, "GET", s.URL+"/metrics", nil, nil); resp.code != http.StatusOK || !strings.Contains(resp.body, "reconciler_restores_total") {
			t.Errorf("/metrics of a handler built twice: %d", resp.code)
		}
	}
}

// TestGuardRefusesCrossSiteWrites: the browser of a logged-in operator sends the cached
// basic-auth credentials along with a request that another site's page makes. Such
// state-changing requests (a form posting to /reconcile, a fetch pausing a queue in
// asynqmon's API) are refused; the same requests from the monitor's own pages, or from
// curl and the CLI (no browser headers), go through, and reads stay open.
func TestGuardRefusesCrossSiteWrites(t *testing.T) {
	tw := newTestWorker(t, nil)
	srv := httptest.NewServer(tw.Handler())
	defer srv.Close()
	auth := basicAuth(testUser, testPassword)
	with := func(headers ...string) func(*http.Request) {
		return func(r *http.Request) {
			auth(r)
			for i := 0; i+1 < len(headers); i += 2 {
				r.Header.Set(headers[i], headers[i+1])
			}
		}
	}
	cases := []struct {
		name, method, path string
		edit               func(*http.Request)
		want               int
	}{
		{"cross-site form post", "POST", "/reconcile", with("Sec-Fetch-Site", "cross-site", "Content-Type", "application/x-www-form-urlencoded"), http.StatusForbidden},
		{"cross-origin post (Origin only)", "POST", "/reconcile", with("Origin", "https://attacker.example"), http.StatusForbidden},
		{"cross-site queue pause", "POST", "/monitor/api/queues/restore:pause", with("Sec-Fetch-Site", "cross-site"), http.StatusForbidden},
		{"cross-site task delete", "DELETE", "/monitor/api/queues/reconcile/completed_tasks:delete_all", with("Sec-Fetch-Site", "same-site"), http.StatusForbidden},
		{"same-origin post", "POST", "/reconcile", with("Sec-Fetch-Site", "same-origin"), http.StatusAccepted},
		{"curl post", "POST", "/reconcile", auth, http.StatusAccepted},
		{"cross-site read", "GET", "/monitor/api/queues", with("Sec-Fetch-Site", "cross-site"), http.StatusOK},
		{"cross-site without credentials", "POST", "/reconcile", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusUnauthorized},
	}
	for _, c := range cases {
		if resp := do(t, c.method, srv.URL+c.path, nil, c.edit); resp.code != c.want {
			t.Errorf("%s: %s %s answered %d, want %d (%q)", c.name, c.method, c.path, resp.code, c.want, resp.body)
		}
	}
	if paused := tw.rds.MustDo("EXISTS", "asynq:{restore}:paused"); paused != "0" {
		t.Errorf("a cross-site request paused the restore queue")
	}
}

// TestPprofOnlyWhenAskedAndBehindAuth: the profiler is not served by default; with PPROF=on it
// is, to the monitor's credentials only.
func TestPprofOnlyWhenAskedAndBehindAuth(t *testing.T) {
	off := httptest.NewServer(newTestWorker(t, nil).Handler())
	defer off.Close()
	if resp := do(t, "GET", off.URL+"/debug/pprof/", nil, basicAuth(testUser, testPassword)); resp.code != http.StatusNotFound {
		t.Fatalf("PPROF off: /debug/pprof/ answered %d, want 404", resp.code)
	}
	on := httptest.NewServer(newTestWorker(t, func(c *Config) { c.Pprof = true }).Handler())
	defer on.Close()
	if resp := do(t, "GET", on.URL+"/debug/pprof/", nil, nil); resp.code != http.StatusUnauthorized {
		t.Fatalf("PPROF on, no credentials: %d, want 401", resp.code)
	}
	resp := do(t, "GET", on.URL+"/debug/pprof/", nil, basicAuth(testUser, testPassword))
	if resp.code != http.StatusOK || !strings.Contains(resp.body, "goroutine") {
		t.Fatalf("PPROF on: %d %q, want the profile index", resp.code, resp.body)
	}
	resp = do(t, "GET", on.URL+"/debug/pprof/profile?seconds=1", nil, basicAuth(testUser, testPassword))
	if resp.code != http.StatusOK || len(resp.body) == 0 {
		t.Fatalf("PPROF on: CPU profile %d, %d bytes", resp.code, len(resp.body))
	}
	if resp := do(t, "POST", on.URL+"/debug/pprof/profile", nil, basicAuth(testUser, testPassword)); resp.code != http.StatusMethodNotAllowed {
		t.Fatalf("POST to the profiler: %d, want 405", resp.code)
	}
}
