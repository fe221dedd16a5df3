package tests

import (
	"context"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// TestSpoolsPageInBrowser: a supervisor opens /spools/ in a real browser, types a tag in the
// search box, submits, and reads the verdict and the history (`restored` by the boot run); a
// tag cell holding <script> markup is shown as text and runs nothing.
func TestSpoolsPageInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", explainSheet(time.Now()))
	const user, password = "ops", "spools-test-password"
	env := map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off", "MONITOR_USER": user, "MONITOR_PASSWORD": password,
	}
	w := startWorker(t, env)
	const script = "<script>alert(1)</script>"
	if !eventually(30*time.Second, func() bool {
		return rds.MustDo("EXISTS", "spool_lock:EX-SYNC") == "1" && rds.MustDo("EXISTS", "spool_lock:"+script) == "1"
	}) {
		t.Fatal("the boot reconcile did not restore EX-SYNC and the <script> spool within 30s")
	}

	ctx := newBrowser(t, chromium)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth},
	}); err != nil {
		t.Fatalf("set the Authorization header: %v", err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Search a tag with the box, as a person would.
	step("open /spools/ and search EX-SYNC",
		chromedp.Navigate(w.URL("/spools/")),
		chromedp.WaitVisible(`input[name=tag]`),
		chromedp.SendKeys(`input[name=tag]`, "EX-SYNC"),
		chromedp.Submit(`input[name=tag]`),
		waitForText("in_sync", "is locked as the sheet says", "History", "restored", "boot", "ago"),
	)
	page := screenshot(t, ctx, "spools.png")
	if os.Getenv("REFRESH_DOCS_SCREENSHOT") == "1" {
		if err := os.WriteFile("../docs/spools.png", page, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README screenshot refreshed: ../docs/spools.png")
	}
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	if err == nil && loc != "/spools/?tag=EX-SYNC" {
		t.Errorf("the search went to %q, want /spools/?tag=EX-SYNC", loc)
	}

	// The <script> spool: its tag and holder are text on the page; no script element exists and
	// nothing ran (a running alert would block the page).
	step("search the <script> tag",
		chromedp.Navigate(w.URL("/spools/")),
		chromedp.WaitVisible(`input[name=tag]`),
		chromedp.SendKeys(`input[name=tag]`, script),
		chromedp.Submit(`input[name=tag]`),
		waitForText("in_sync", script, "<b>JP</b>(7)", "restored"),
	)
	tagText, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("tag").innerText`))
	if err != nil || tagText != script {
		t.Errorf("the tag cell shows %q (%v), want the markup as text", tagText, err)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("script, b").length`))
	if err != nil || scripts != 0 {
		t.Errorf("the page holds %d <script> or <b> elements (%v): the sheet's markup was not escaped", scripts, err)
	}
	screenshot(t, ctx, "spools-script.png")
}
