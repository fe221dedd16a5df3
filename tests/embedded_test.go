package tests

import (
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEmbeddedDefault: with nothing configured the binary runs the demo on an in-process
// Redis and the built-in sample sheet, prints where everything is, reconciles at once, and
// the other subcommands work against what it printed.
func TestEmbeddedDefault(t *testing.T) {
	w := startWorker(t, map[string]string{})
	var banner string
	if !eventually(10*time.Second, func() bool {
		banner = w.Stdout.String()
		return strings.Contains(banner, "Ctrl-C stops")
	}) {
		t.Fatalf("no banner on stdout:\n%s", banner)
	}
	redisURL := regexp.MustCompile(`redis://127\.0\.0\.1:\d+/0`).FindString(banner)
	csvPath := regexp.MustCompile(`SHEET_CSV=(\S+)`).FindStringSubmatch(banner)
	if redisURL == "" || csvPath == nil || !strings.Contains(banner, "/monitor/") || !strings.Contains(banner, "/spools/") {
		t.Fatalf("the banner lacks the Redis URL, the sample sheet, the monitor or the spools URL:\n%s", banner)
	}

	var ready struct {
		Ready      bool
		LastReport *struct {
			Trigger  string
			Enqueued int
			Problems int
		} `json:"last_report"`
	}
	if !eventually(15*time.Second, func() bool {
		getJSON(t, w.URL("/readyz"), &ready)
		return ready.Ready && ready.LastReport != nil
	}) {
		t.Fatalf("/readyz never showed a report: %+v", ready)
	}
	if r := ready.LastReport; r.Trigger != "boot" || r.Enqueued < 10 || r.Problems < 5 {
		t.Fatalf("the demo's boot report: %+v, want restores and reported problems", r)
	}

	resp, err := http.Get(w.URL("/monitor/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/monitor/ in embedded mode without a password: %d, want 200", resp.StatusCode)
	}

	env := map[string]string{"REDIS_URL": redisURL}
	out, errOut, code := cli(t, env, "enqueue", "--wait", "--spool", "MK-1335-CW-25238-001")
	if code != 0 || !strings.Contains(out, "restores:") {
		t.Fatalf("enqueue --wait against the demo: exit %d\n%s\n%s", code, out, errOut)
	}
	env["SHEET_CSV"] = csvPath[1]
	out, errOut, code = cli(t, env, "plan")
	if code != 3 || !strings.Contains(out, "drift: 0 missing, 1 held by someone else") {
		t.Fatalf("plan against the demo: exit %d (want 3: the demo seeds one foreign lock)\n%s\n%s", code, out, errOut)
	}

	// explain and the spools page work on the in-process Redis too (its Lua runs the history).
	out, errOut, code = cli(t, env, "explain", "DEMO-ORPHAN-001")
	if code != 3 || !strings.Contains(out, "DEMO-ORPHAN-001: orphan") {
		t.Fatalf("explain against the demo: exit %d (want 3: the demo seeds an orphan)\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = cli(t, env, "history")
	if code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("history against the demo: exit %d, want the boot run's restores\n%s\n%s", code, out, errOut)
	}
	page, err := http.Get(w.URL("/spools/?tag=DEMO-ORPHAN-001"))
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("/spools/ in embedded mode without a password: %d, want 200", page.StatusCode)
	}

	w.Signal(syscall.SIGINT)
	if code := w.Wait(8 * time.Second); code != 0 {
		t.Fatalf("Ctrl-C: exit %d, want 0", code)
	}
}

// TestBadConfigurationExits1: one message per problem, naming the variable, and exit 1.
func TestBadConfigurationExits1(t *testing.T) {
	_, errOut, code := cli(t, map[string]string{"APP_ENV": "production", "RECONCILE_SCHEDULE": "nope"}, "worker")
	if code != 1 {
		t.Fatalf("bad configuration: exit %d, want 1", code)
	}
	for _, want := range []string{"REDIS_URL", "RECONCILE_SCHEDULE", "no sheet configured"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the message does not mention %s:\n%s", want, errOut)
		}
	}
}
