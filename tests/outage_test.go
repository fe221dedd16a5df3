package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// The outage watcher's log lines (worker/outage.go).
const (
	msgRedisLost = "Redis unreachable"
	msgRedisBack = "Redis answers again"
)

// TestRedisPauseRedisBack: Redis stops answering for 8 s (SIGSTOP, then SIGCONT: same process,
// same data, same run_id) while the backend, in degraded mode, takes spools in the sheet only.
// Once Redis answers, every spool taken meanwhile is locked within 2 s, with keyspace
// notifications off and on, by one redis-back reconcile (not the redis-restart path: nothing
// was lost). The log tells the outage in exactly one line when Redis is lost and one when it
// is back, and nothing floods it meanwhile.
func TestRedisPauseRedisBack(t *testing.T) {
	for _, mode := range []string{"off", "configure"} {
		t.Run("KEYSPACE_EVENTS="+mode, func(t *testing.T) { testRedisPause(t, mode) })
	}
}

func testRedisPause(t *testing.T, keyspaceMode string) {
	const before, during = 30, 20
	header := sheets.OperacionesHeader()
	tag := func(i int) string { return fmt.Sprintf("OUT-%03d", i) }
	rows := make([]map[string]any, before+during+10)
	taken := time.Now().In(santiago).Add(-10 * time.Minute).Format("02-01-2006 15:04:05")
	for i := range rows {
		rows[i] = sheetsemu.Spool(tag(i), "", "")
		if i < before {
			rows[i] = sheetsemu.Spool(tag(i), fmt.Sprintf("SB(%d)", 100+i), taken)
		}
	}
	grid := sheetsemu.Grid(header, rows...)
	rds := redisserver.Start(t)
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", grid)
	w := startWorker(t, map[string]string{
		"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": keyspaceMode,
	})
	locked := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			if v, err := rds.Do("GET", "spool_lock:"+tag(i)); err == nil && strings.HasPrefix(v, fmt.Sprintf("%d:", 100+i)) {
				n++
			}
		}
		return n
	}
	if !eventually(30*time.Second, func() bool { return locked(0, before) == before }) {
		t.Fatalf("boot reconcile: %d of %d locks", locked(0, before), before)
	}
	if keyspaceMode == "configure" && !eventually(10*time.Second, func() bool {
		flags, _ := rds.Do("CONFIG", "GET", "notify-keyspace-events")
		return strings.Contains(flags, "x")
	}) {
		t.Fatal("KEYSPACE_EVENTS=configure did not turn keyspace notifications on")
	}
	runID := serverRunID(t, rds)

	// The outage: the backend writes occupations to the sheet only, spread over 8 s.
	linesBefore := strings.Count(w.Stderr.String(), "\n")
	rds.Stop()
	stopped := time.Now()
	col := columnOf(header)
	for i := before; i < before+during; i++ {
		now := time.Now().In(santiago)
		grid[i+1] = setHolder(grid[i+1], col, fmt.Sprintf("SB(%d)", 100+i), now.Format("02-01-2006 15:04:05"))
		emu.SetSheet("Operaciones", grid)
		time.Sleep(8 * time.Second / during) // the backend's pace; the outage lasts 8 s
	}
	time.Sleep(time.Until(stopped.Add(8 * time.Second)))
	duringOutage := w.Stderr.String()
	t.Logf("SIGSTOP at %s, SIGCONT at %s", stopped.Format("15:04:05.000"), time.Now().Format("15:04:05.000"))
	rds.Continue()
	if _, err := rds.Do("PING"); err != nil {
		t.Fatalf("Redis does not answer after SIGCONT: %v", err)
	}
	answering := time.Now()

	ok := eventually(2*time.Second, func() bool { return locked(before, before+during) == during })
	took := time.Since(answering)
	if !ok {
		// Say how late it was, for the failure message.
		eventually(20*time.Second, func() bool { return locked(before, before+during) == during })
		t.Fatalf("%d of %d spools taken during the outage locked 2 s after Redis answered (%d after %v)\n%s",
			locked(before, before+during), during, locked(before, before+during), time.Since(answering).Round(100*time.Millisecond), summary(w.Stderr.String()))
	}
	t.Logf("every spool taken during the outage locked %v after Redis answered", took.Round(10*time.Millisecond))
	if got := serverRunID(t, rds); got != runID {
		t.Fatalf("run_id changed across SIGSTOP/SIGCONT: %s → %s", runID, got)
	}

	// The log: one lost/back pair, the redis-back reconcile, nothing of the restart path.
	if !eventually(5*time.Second, func() bool { return len(logLines(w.Stderr.String(), msgRedisBack)) > 0 }) {
		t.Fatalf("no %q line", msgRedisBack)
	}
	log := w.Stderr.String()
	lost, back := logLines(log, msgRedisLost), logLines(log, msgRedisBack)
	if len(lost) != 1 || len(back) != 1 {
		t.Fatalf("%d %q and %d %q lines, want exactly one of each\n%s", len(lost), msgRedisLost, len(back), msgRedisBack, tail(log, 40))
	}
	// From when the outage was noticed (a few seconds in) to the first answer.
	if d, err := time.ParseDuration(fmt.Sprint(back[0]["down_for"])); err != nil || d < time.Second || d > 9*time.Second {
		t.Errorf("down_for %v (%v), want the 8 s outage less the time it took to notice", back[0]["down_for"], err)
	}
	if n := len(logLines(log, "Redis lost its data; reconciling everything")); n != 0 {
		t.Errorf("a pause that kept Redis's data took the redis-restart path %d times", n)
	}
	triggers := map[string]int{}
	for _, rec := range logLines(log, "reconcile finished") {
		triggers[fmt.Sprint(rec["trigger"])]++
	}
	if triggers["redis-back"] == 0 || triggers["redis-restart"] != 0 {
		t.Errorf("reconciles by trigger %v, want redis-back and no redis-restart", triggers)
	}

	// No flood: a handful of lines while Redis was down, none of them asynq's or go-redis's
	// warnings or errors repeating.
	outageLines := strings.Split(strings.TrimSpace(duringOutage), "\n")[linesBefore:]
	if len(outageLines) > 10 {
		t.Errorf("%d log lines during the 8 s outage, want at most 10:\n%s", len(outageLines), strings.Join(outageLines, "\n"))
	}
	for _, line := range floodLines(log) {
		t.Errorf("a library's complaint about the outage reached the log: %s", line)
	}
}

// floodLines are the lines of a worker's JSON log that an outage must not produce: asynq's or
// go-redis's warnings and errors (they repeat every second or faster while Redis is down), and
// anything that is not a JSON record (go-redis's default logger writes plain text).
func floodLines(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		library := strings.Contains(line, `"component":"asynq"`) || strings.Contains(line, `"component":"go-redis"`)
		loud := strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`)
		if library && loud || line != "" && !strings.HasPrefix(line, "{") {
			out = append(out, line)
		}
	}
	return out
}

// serverRunID is the run_id in INFO server.
func serverRunID(t *testing.T, rds *redisserver.Server) string {
	t.Helper()
	for _, line := range strings.Split(rds.MustDo("INFO", "server"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	t.Fatal("INFO server has no run_id")
	return ""
}

// holderColumns are the indexes of the holder and date columns.
type holderColumns struct{ holder, date int }

func columnOf(header []string) holderColumns {
	var c holderColumns
	for i, h := range header {
		switch h {
		case sheetsemu.ColHolder:
			c.holder = i
		case sheetsemu.ColDate:
			c.date = i
		}
	}
	return c
}

// setHolder is a copy of row with holder and date set.
func setHolder(row []any, c holderColumns, holder, date string) []any {
	out := append([]any(nil), row...)
	for len(out) <= max(c.holder, c.date) {
		out = append(out, nil)
	}
	out[c.holder], out[c.date] = holder, date
	return out
}

// TestCLIWithRedisDown: `plan` and `enqueue` against an unreachable Redis say so in one line of
// their own and exit 1; none of go-redis's own lines reach the terminal.
func TestCLIWithRedisDown(t *testing.T) {
	rds := redisserver.Start(t)
	rds.Kill()
	emu := sheetsemu.Start(t)
	emu.SetSheet("Operaciones", sheetsemu.Grid(sheets.OperacionesHeader()))
	env := map[string]string{"REDIS_URL": rds.URL(), "GOOGLE_SHEET_ID": emu.SpreadsheetID(), "SHEETS_ENDPOINT": emu.Endpoint()}
	for _, args := range [][]string{{"plan"}, {"plan", "--json"}, {"enqueue"}, {"enqueue", "--wait"}} {
		stdout, stderr, code := cli(t, env, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 1 || stdout != "" || len(lines) != 1 || !strings.Contains(lines[0], "Redis at "+rds.Addr()+" does not answer") {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and one line saying Redis at %s does not answer", args, code, stdout, stderr, rds.Addr())
		}
	}
	if n := emu.Requests(); n != 0 {
		t.Errorf("plan read the sheet %d times with Redis down", n)
	}
}
