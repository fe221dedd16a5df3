package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"reconciler/tests/logbuffer"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// Screenshots of the browser test. artifactDir is gitignored; docsScreenshot is the README's
// picture, rewritten only when REFRESH_DOCS_SCREENSHOT=1.
const (
	artifactDir    = "artifacts"
	docsScreenshot = "../docs/monitor.png"
)

// chromiumPath finds Debian's chromium (scripts/test installs it). A missing browser fails the
// test unless SKIP_BROWSER_TEST=1 says to do without.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SKIP_BROWSER_TEST") == "1" {
		t.Skip("no chromium on PATH and SKIP_BROWSER_TEST=1: the monitor's browser test does not run")
	}
	t.Fatal("no chromium on PATH: install it (Debian: apt-get install chromium; scripts/test does) or set SKIP_BROWSER_TEST=1 to skip this test")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and returns a tab's context.
func newBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	var out logbuffer.Buffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", tail(out.String(), 30))
		}
	})
	// The first action starts the browser; its life is bound to this context, so no timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v\n%s", execPath, err, tail(out.String(), 30))
	}
	// The window size includes the browser's own frame: the page itself gets 1280x800.
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(vctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("set the viewport: %v", err)
	}
	return ctx
}

// TestMonitorInBrowser logs in to /monitor/ with a real browser, opens the reconcile queue's
// completed tasks, finds the boot reconcile and its report, opens the task, and saves
// screenshots (tests/artifacts/monitor.png and monitor-completed.png).
func TestMonitorInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	now := time.Now()
	sheet := buildSheet(t, 200, now)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheet.grid)
	const user, password = "ops", "monitor-test-password"
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off",
		"MONITOR_USER": user, "MONITOR_PASSWORD": password,
	}
	w := startWorker(t, env)

	// The boot reconcile and its restores finish; its run id is the task id.
	var ready struct {
		LastReport *struct {
			RunID   string `json:"run_id"`
			Trigger string
			Missing int
		} `json:"last_report"`
	}
	if !eventually(30*time.Second, func() bool {
		return getJSON(t, w.URL("/readyz"), &ready) == 200 && ready.LastReport != nil && countLocks(rds) == len(sheet.candidates)
	}) {
		t.Fatalf("the boot reconcile did not finish: /readyz %+v, %d locks of %d", ready, countLocks(rds), len(sheet.candidates))
	}
	taskID, missing := ready.LastReport.RunID, ready.LastReport.Missing
	if ready.LastReport.Trigger != "boot" || taskID == "" {
		t.Fatalf("last report %+v, want the boot reconcile's", *ready.LastReport)
	}

	ctx := newBrowser(t, chromium)
	step := func(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Without credentials the browser meets the basic-auth challenge (headless Chromium, with
	// nobody to type a password, gives up on the navigation), not the monitor.
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	resp, err := chromedp.RunResponse(sctx, chromedp.Navigate(w.URL("/monitor/")))
	cancel()
	switch {
	case err != nil && strings.Contains(err.Error(), "AUTH"):
		t.Logf("without credentials: %v", err)
	case err != nil:
		t.Fatalf("open /monitor/ without credentials: %v, want the basic-auth challenge", err)
	case resp == nil || resp.Status != 401:
		t.Fatalf("/monitor/ without credentials answered %+v in the browser, want 401", resp)
	}

	// Log in: every request of the tab carries the basic-auth header. Google Fonts (which
	// asynqmon's page links) are blocked so the test needs no internet.
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth},
	}); err != nil {
		t.Fatalf("set the Authorization header: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{
			{URLPattern: "*://fonts.googleapis.com/*", Block: true},
			{URLPattern: "*://fonts.gstatic.com/*", Block: true},
		},
	}); err != nil {
		t.Logf("block Google Fonts: %v (the page may wait for them)", err)
	}

	// The reconcile queue's completed tasks list the boot reconcile with its result.
	step("open the completed reconcile tasks", 45*time.Second,
		chromedp.Navigate(w.URL("/monitor/queues/reconcile?status=completed")),
		waitForText(taskID, `"trigger": "boot"`, `"missing": `+strconv.Itoa(missing)),
	)
	screenshot(t, ctx, "monitor-completed.png")

	// The task's own page shows the whole report, pretty-printed.
	step("open the boot reconcile's task page", 45*time.Second,
		chromedp.Navigate(w.URL("/monitor/queues/reconcile/tasks/"+taskID)),
		waitForText(taskID, `"trigger": "boot"`, `"missing": `+strconv.Itoa(missing), `"problems": [`, `"invalid_holder"`),
	)
	step("scroll to the result", 10*time.Second, chromedp.Evaluate[chromedp.Void](scrollToResult))
	detail := screenshot(t, ctx, "monitor.png")
	if os.Getenv("REFRESH_DOCS_SCREENSHOT") == "1" {
		if err := os.MkdirAll(filepath.Dir(docsScreenshot), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docsScreenshot, detail, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README screenshot refreshed: %s", docsScreenshot)
	}
}

// scrollToResult brings the task page's payload and the start of its result into view (best
// effort: the layout is asynqmon's).
const scrollToResult = `(() => {
  const el = [...document.querySelectorAll("pre")].find(e => e.innerText.includes('"requested_at"'));
  if (!el) return;
  el.scrollIntoView({block: "start"});
  for (let p = el.parentElement; p; p = p.parentElement) {
    if (p.scrollHeight > p.clientHeight && getComputedStyle(p).overflowY !== "visible") { p.scrollTop -= 110; break; }
  }
  window.scrollBy(0, -110);
})()`

// waitForText waits until the page's text holds every part (asynqmon renders from its API, so
// the text arrives after the load event).
func waitForText(parts ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		want := make([]string, len(parts))
		for i, p := range parts {
			want[i] = strconv.Quote(p)
		}
		js := fmt.Sprintf(`(() => { const text = document.body ? document.body.innerText : ""; return [%s].every(p => text.includes(p)); })()`,
			strings.Join(want, ","))
		var last string
		for {
			ok, err := chromedp.Evaluate[bool](js)(ctx, t)
			if err == nil && ok {
				return nil
			}
			if err != nil {
				last = err.Error()
			}
			select {
			case <-ctx.Done():
				text, _ := chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)(context.WithoutCancel(ctx), t)
				return fmt.Errorf("the page never showed %q (%v; last error %q); page text:\n%s", parts, ctx.Err(), last, tail(text, 40))
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

// screenshot saves the viewport (1280x800) as tests/artifacts/name and returns the PNG.
func screenshot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 800 {
		t.Errorf("screenshot %s is %dx%d, want 1280x800", name, b.Dx(), b.Dy())
	}
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s (%d bytes)", abs, len(buf))
	return buf
}
