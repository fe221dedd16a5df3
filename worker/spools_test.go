package worker

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/tests/redisserver"
)

// Tags people write in the sheet: spaces, a slash, non-ASCII letters, markup.
const (
	tagSpaced = "MK 2/B-07"
	tagAccent = "ÑANDÚ-ü-01"
	tagScript = "<script>alert(1)</script>"
)

// spoolWorker is a Worker (not running: only its handler) on a real redis-server, with a sheet
// of awkward tags.
func spoolWorker(t *testing.T, edit func(*Config)) (*Worker, *redisserver.Server) {
	t.Helper()
	rds := redisserver.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 8})
	t.Cleanup(func() { _ = rdb.Close() })
	at := time.Now().Add(-time.Hour).In(santiago).Format("02-01-2006 15:04:05")
	grid := [][]any{
		{"TAG_SPOOL", "Ocupado_Por", "Fecha_Ocupacion"},
		{tagSpaced, "MR(93)", at},
		{tagAccent, "", ""},
		{tagScript, "<b>JP</b>(7)", at},
	}
	cfg := Config{Rules: jobs.DefaultRules, Tasks: jobs.DefaultTasks, ReleaseSettle: time.Minute, OrphanGrace: 10 * time.Minute,
		MaxReadsPerMinute: 1000, HTTPAddr: "127.0.0.1:0", MonitorUser: testUser, MonitorPassword: testPassword, Location: santiago}
	if edit != nil {
		edit(&cfg)
	}
	store := redislock.New(rdb, redislock.Options{Location: santiago})
	w := New(cfg, slog.New(slog.DiscardHandler), Parts{Redis: rdb, Sheet: sheets.NewStatic(grid, santiago), Store: store})
	return w, rds
}

func explanation(t *testing.T, body string) jobs.Explanation {
	t.Helper()
	var e jobs.Explanation
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not explain's JSON: %v\n%s", err, body)
	}
	return e
}

// TestSpoolsAuth: the JSON and the page are behind the monitor's basic auth.
func TestSpoolsAuth(t *testing.T) {
	w, _ := spoolWorker(t, nil)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	for _, path := range []string{"/spools/", "/spools/?tag=X", "/spools/" + url.PathEscape(tagSpaced)} {
		for _, auth := range []func(*http.Request){nil, basicAuth(testUser, "wrong"), basicAuth("wrong", testPassword)} {
			if resp := do(t, "GET", srv.URL+path, nil, auth); resp.code != http.StatusUnauthorized || resp.header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s with bad or no credentials: %d, want 401 with a challenge", path, resp.code)
			}
		}
		if resp := do(t, "GET", srv.URL+path, nil, basicAuth(testUser, testPassword)); resp.code != http.StatusOK {
			t.Errorf("GET %s with the monitor's credentials: %d %s", path, resp.code, resp.body)
		}
	}
	// Read-only: nothing but GET (and HEAD) is served.
	if resp := do(t, "POST", srv.URL+"/spools/X", nil, basicAuth(testUser, testPassword)); resp.code != http.StatusMethodNotAllowed {
		t.Errorf("POST /spools/X: %d, want 405", resp.code)
	}
	if resp := do(t, "GET", srv.URL+"/spools", nil, nil); resp.code != http.StatusMovedPermanently || resp.header.Get("Location") != "/spools/" {
		t.Errorf("GET /spools: %d to %q, want a redirect to /spools/", resp.code, resp.header.Get("Location"))
	}

	t.Run("off without a password", func(t *testing.T) {
		w, _ := spoolWorker(t, func(c *Config) { c.MonitorPassword = "" })
		srv := httptest.NewServer(w.Handler())
		defer srv.Close()
		if resp := do(t, "GET", srv.URL+"/spools/?tag=X", nil, nil); resp.code != http.StatusNotFound || !strings.Contains(resp.body, "MONITOR_PASSWORD") {
			t.Errorf("without MONITOR_PASSWORD: %d %q, want 404", resp.code, resp.body)
		}
	})
	t.Run("open in embedded mode", func(t *testing.T) {
		w, _ := spoolWorker(t, func(c *Config) { c.MonitorPassword, c.Embedded = "", true })
		srv := httptest.NewServer(w.Handler())
		defer srv.Close()
		if resp := do(t, "GET", srv.URL+"/spools/"+url.PathEscape(tagSpaced), nil, nil); resp.code != http.StatusOK {
			t.Errorf("embedded, from 127.0.0.1: %d, want 200", resp.code)
		}
	})
}

// TestSpoolsAwkwardTags: spaces, "/" and non-ASCII work in both URLs (escaped, and for the JSON
// also with a bare "/"), tags are trimmed, and markup is shown as text, never run.
func TestSpoolsAwkwardTags(t *testing.T) {
	w, rds := spoolWorker(t, nil)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	auth := basicAuth(testUser, testPassword)
	rds.MustDo("SET", "spool_lock:"+tagAccent, "7:33333333-3333-4333-8333-333333333333:01-01-2026 00:00:00")
	cases := []struct {
		tag     string
		paths   []string
		verdict jobs.Verdict
	}{
		{tagSpaced, []string{"/spools/" + url.PathEscape(tagSpaced), "/spools/MK%202/B-07", "/spools/" + url.PathEscape(" "+tagSpaced+" ")}, jobs.VerdictMissing},
		{tagAccent, []string{"/spools/" + url.PathEscape(tagAccent), "/spools/ÑANDÚ-ü-01"}, jobs.VerdictOrphan},
		{tagScript, []string{"/spools/" + url.PathEscape(tagScript)}, jobs.VerdictMissing},
	}
	for _, c := range cases {
		for _, p := range c.paths {
			resp := do(t, "GET", srv.URL+p, nil, auth)
			if resp.code != http.StatusOK {
				t.Errorf("GET %s: %d %s", p, resp.code, resp.body)
				continue
			}
			if e := explanation(t, resp.body); e.Tag != c.tag || e.Verdict != c.verdict {
				t.Errorf("GET %s: tag %q verdict %q, want %q %q", p, e.Tag, e.Verdict, c.tag, c.verdict)
			}
			if strings.Contains(resp.body, testPassword) || strings.Contains(resp.body, rds.Addr()) {
				t.Errorf("GET %s shows a secret or the Redis address:\n%s", p, resp.body)
			}
		}
		page := do(t, "GET", srv.URL+"/spools/?tag="+url.QueryEscape(c.tag), nil, auth)
		if page.code != http.StatusOK || !strings.Contains(page.body, `id="verdict"`) || !strings.Contains(page.body, string(c.verdict)) {
			t.Errorf("page of %q: %d, want its verdict %s\n%s", c.tag, page.code, c.verdict, page.body)
		}
		if !strings.Contains(page.body, `href="/spools/`+url.PathEscape(c.tag)+`"`) {
			t.Errorf("page of %q lacks the link to its JSON /spools/%s", c.tag, url.PathEscape(c.tag))
		}
	}
	// Escaped, even tags the mux would otherwise clean or cut come through whole.
	for _, tag := range []string{"A//B", "A/../B", "100%", "a?b#c"} {
		resp := do(t, "GET", srv.URL+"/spools/"+url.PathEscape(tag), nil, auth)
		if e := explanation(t, resp.body); resp.code != http.StatusOK || e.Tag != tag || e.Verdict != jobs.VerdictUnknown {
			t.Errorf("GET /spools/%s: %d tag %q verdict %q, want %q unknown", url.PathEscape(tag), resp.code, e.Tag, e.Verdict, tag)
		}
	}
	page := do(t, "GET", srv.URL+"/spools/?tag="+url.QueryEscape(tagScript), nil, auth)
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, "<b>JP</b>") {
		t.Errorf("the page holds the sheet's markup unescaped:\n%s", page.body)
	}
	if !strings.Contains(page.body, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(page.body, "&lt;b&gt;JP&lt;/b&gt;(7)") {
		t.Errorf("the page does not show the tag and holder as text:\n%s", page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q, want no script at all", csp)
	}
	for _, secret := range []string{testPassword, rds.Addr()} {
		if strings.Contains(page.body, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
	// Explaining writes nothing but the read it takes from the budget.
	keys := rds.MustDo("KEYS", "*")
	if strings.Contains(keys, "reconciler:history") || strings.Contains(keys, "reconciler:orphans") {
		t.Errorf("explaining wrote bookkeeping: %s", keys)
	}
}

// TestSpoolsBudget: the page's sheet reads count against SHEETS_MAX_READS_PER_MINUTE; when it
// is spent the answer is 503 with Retry-After, not a read.
func TestSpoolsBudget(t *testing.T) {
	w, _ := spoolWorker(t, func(c *Config) { c.MaxReadsPerMinute = 1 })
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	auth := basicAuth(testUser, testPassword)
	if resp := do(t, "GET", srv.URL+"/spools/X", nil, auth); resp.code != http.StatusOK {
		t.Fatalf("first read: %d %s", resp.code, resp.body)
	}
	resp := do(t, "GET", srv.URL+"/spools/?tag=X", nil, auth)
	if resp.code != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" || !strings.Contains(resp.body, "SHEETS_MAX_READS_PER_MINUTE") {
		t.Errorf("over budget: %d (Retry-After %q) %s", resp.code, resp.header.Get("Retry-After"), resp.body)
	}
}

func TestAgo(t *testing.T) {
	now := time.Now()
	for d, want := range map[time.Duration]string{2 * time.Second: "just now", 3*time.Minute + 5*time.Second: "3 min ago",
		5 * time.Hour: "5 h ago", 72 * time.Hour: "3 days ago"} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}
