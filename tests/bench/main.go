// Command bench measures the reconciler worker (the real binary, built without -race) against
// a real redis-server and the Sheets emulator, for sheets of several sizes:
//
//   - recovery: redis-server killed (-9) and started empty on the same port; time from it
//     answering PING to the last lock back, split into detection, queueing, sheet read, plan,
//     enqueue and restores (from the worker's JSON log, the report's timestamps and a timing
//     proxy in front of the emulator);
//   - steady state: a POST /reconcile with nothing missing: wall time, Redis commands (INFO
//     commandstats deltas net of the idle background), Sheets requests and bytes; plus the
//     plan's phases replayed in-process with the same packages;
//   - the worker's peak RSS (VmHWM);
//   - side by side: the backend's original algorithm (sequential EXISTS + SET NX EX + PERSIST
//     over one connection) and the pipelined limit (SET NX in pipelines of 1,000).
//
// Usage (from the module root):
//
//	go run ./tests/bench [-sizes 2000,20000,100000] [-reps 3] [-out BENCHMARKS.md]
//
// With BENCH_KEEP=1 in the environment the scratch directory (the worker logs, redis.log) is
// kept and its path printed, to read what a worker did during a measurement.
//
// With -out, the results replace the part of the file between the markers
// <!-- bench:begin --> and <!-- bench:end --> (or the whole file when it has none).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"reconciler/adapters/sheets"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

type sizeResult struct {
	Rows, Locks  int
	Boot         time.Duration
	Recoveries   []recovery
	Steadies     []steady
	Replays      []replay
	PeakRSSKB    int64
	Seq, Pipe    []time.Duration
	Errors       []string
	Concurrency  string
	SheetBytes   int64
	WorkerLogErr int
	Idle         *idle
	// With -ab: interleaved pairs of recoveries by fresh workers, with the default environment
	// (PairA) and with the -ab one (PairB).
	PairA, PairB []recovery
}

func main() {
	sizesFlag := flag.String("sizes", "2000,20000,100000", "sheet sizes (rows), comma separated")
	reps := flag.Int("reps", 3, "repetitions of each measurement (medians are quoted)")
	out := flag.String("out", "", "write the results into this Markdown file (between bench markers)")
	idleFor := flag.Duration("idle", 20*time.Second, "measure the idle cost over this long at each size (0: skip)")
	extraEnv := flag.String("env", "", "extra worker environment, KEY=VALUE[,KEY=VALUE...] (e.g. WORKER_CONCURRENCY=20)")
	profileDir := flag.String("profile", "", "also take CPU profiles of the worker (PPROF=on) during recoveries and during steady-state runs at each size, "+
		"as DIR/<phase>-<rows>.pprof with a text summary (go tool pprof -top) beside each")
	abEnv := flag.String("ab", "", "also compare recoveries with this worker environment, KEY=VALUE[,...] (e.g. HISTORY_MAX=off): -reps interleaved pairs of fresh workers, in the same run")
	flag.Parse()

	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 10 {
			fmt.Fprintf(os.Stderr, "bad size %q\n", s)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	parseEnv := func(flagName, list string) map[string]string {
		env := map[string]string{}
		if list == "" {
			return env
		}
		for _, kv := range strings.Split(list, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintf(os.Stderr, "bad -%s entry %q\n", flagName, kv)
				os.Exit(2)
			}
			env[k] = v
		}
		return env
	}
	env, ab := parseEnv("env", *extraEnv), parseEnv("ab", *abEnv)

	t := &shim{}
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintln(os.Stderr, "bench:", r)
				code = 1
			}
			t.runCleanups()
		}()
		code = run(t, sizes, *reps, env, ab, *out, *idleFor, *profileDir)
	}()
	os.Exit(code)
}

func run(t *shim, sizes []int, reps int, env, ab map[string]string, out string, idleFor time.Duration, profileDir string) int {
	began := time.Now()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	dir := t.TempDir()
	logf("building cmd/reconciler (no -race)…")
	bin, err := buildBinary(root, dir)
	if err != nil {
		t.Fatalf("%v", err)
	}
	header := sheets.OperacionesHeader()
	var results []sizeResult
	for _, n := range sizes {
		res := benchSize(t, bin, dir, header, n, reps, env, ab, idleFor, profileDir)
		results = append(results, res)
	}
	md := render(results, reps, env, ab, idleFor, time.Since(began))
	fmt.Println(md)
	if out != "" {
		if err := writeOut(out, md); err != nil {
			t.Fatalf("write %s: %v", out, err)
		}
		logf("wrote %s", out)
	}
	for _, r := range results {
		if len(r.Errors) > 0 {
			return 1
		}
	}
	return 0
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000")+" "+format+"\n", a...)
}

func benchSize(t *shim, bin, dir string, header []string, n, reps int, extra, ab map[string]string, idleFor time.Duration, profileDir string) sizeResult {
	logf("size %d: building the sheet", n)
	sh := buildSheet(header, n, time.Now())
	res := sizeResult{Rows: n, Locks: len(sh.candidates), Concurrency: "10 (default)"}
	if c, ok := extra["WORKER_CONCURRENCY"]; ok {
		res.Concurrency = c
	}
	fail := func(err error) {
		logf("size %d: %v", n, err)
		res.Errors = append(res.Errors, err.Error())
	}

	b := &sizeBench{rows: n, sheet: sh, header: header}
	b.rds = redisserver.Start(t)
	b.rdb = redis.NewClient(&redis.Options{Addr: b.rds.Addr(), PoolSize: 2})
	defer b.rdb.Close()
	b.emu = sheetsemu.Start(t)
	b.emu.SetSheet("Operaciones", sh.grid)
	b.proxy = newTimingProxy(b.emu.Endpoint())
	defer b.proxy.srv.Close()

	env := map[string]string{
		"REDIS_URL": b.rds.URL(), "GOOGLE_SHEET_ID": b.emu.SpreadsheetID(), "SHEETS_ENDPOINT": b.proxy.URL(),
		"RECONCILE_SCHEDULE": "off", "KEYSPACE_EVENTS": "off", "MONITOR_PASSWORD": "bench",
	}
	if profileDir != "" {
		env["PPROF"] = "on"
	}
	for k, v := range extra {
		env[k] = v
	}
	start := time.Now()
	w, err := startWorker(bin, dir, env)
	if err != nil {
		fail(err)
		return res
	}
	b.w = w
	defer w.stop()
	if _, err := b.waitRun(3*time.Minute, func(r *report) bool { return r.Trigger == "boot" }); err != nil {
		fail(fmt.Errorf("boot reconcile: %w (log %s)", err, w.logPath))
		return res
	}
	res.Boot = time.Since(start)
	if got := b.locksPresent(); got != len(sh.candidates) {
		fail(fmt.Errorf("after boot: %d of %d locks", got, len(sh.candidates)))
		return res
	}
	logf("size %d: in sync after boot (%d locks, %s)", n, len(sh.candidates), res.Boot.Round(time.Millisecond))
	if idleFor > 0 {
		i := b.idleCost(idleFor)
		res.Idle = &i
		logf("size %d: idle: %.1f Redis commands/s (%s), %.2f%% of a core", n, i.PerSecond, i.top(5), 100*i.CoreShare)
	}

	for i := range reps {
		r, err := b.recover()
		if err != nil {
			fail(err)
			break
		}
		res.Recoveries = append(res.Recoveries, r)
		logf("size %d: recovery %d: %s (read %s, plan %s, enqueue %s, tail %s)", n, i+1, ms(r.Total), ms(r.Read), ms(r.Plan), ms(r.Enqueue), ms(r.Tail))
	}
	for i := range reps {
		s, err := b.steadyState()
		if err != nil {
			fail(err)
			break
		}
		res.Steadies = append(res.Steadies, s)
		logf("size %d: steady %d: %s, %.0f Redis commands, %d Sheets requests, %d bytes", n, i+1, ms(s.Wall), s.Commands, s.Requests, s.Bytes)
	}
	for range reps {
		r, err := b.replayPlan()
		if err != nil {
			fail(err)
			break
		}
		res.Replays = append(res.Replays, r)
	}
	if profileDir != "" {
		for _, phase := range []struct {
			name string
			once func() error
		}{
			{"recovery", func() error { _, err := b.recover(); return err }},
			{"steady", func() error { _, err := b.steadyState(); return err }},
		} {
			path := filepath.Join(profileDir, fmt.Sprintf("%s-%d.pprof", phase.name, n))
			runs, err := b.profile(bin, path, profileSeconds, phase.once)
			if err != nil {
				fail(fmt.Errorf("profile %s: %w", phase.name, err))
				continue
			}
			logf("size %d: %s profile: %d runs in %ds → %s (+ .txt)", n, phase.name, runs, profileSeconds, path)
		}
	}
	res.PeakRSSKB = procStatus(w.pid(), "VmHWM")
	for _, r := range w.records(0) {
		if r.Level == "ERROR" {
			res.WorkerLogErr++
		}
	}
	w.stop()
	if len(ab) > 0 {
		envB := map[string]string{}
		for k, v := range env {
			envB[k] = v
		}
		for k, v := range ab {
			envB[k] = v
		}
		for i := range reps {
			for _, v := range []struct {
				name string
				env  map[string]string
				into *[]recovery
			}{{"default", env, &res.PairA}, {envList(ab), envB, &res.PairB}} {
				r, err := b.recoverWith(bin, dir, v.env)
				if err != nil {
					fail(fmt.Errorf("a/b recovery (%s): %w", v.name, err))
					break
				}
				*v.into = append(*v.into, r)
				logf("size %d: a/b pair %d, %s: %s", n, i+1, v.name, ms(r.Total))
			}
		}
	}
	b.rds.Kill()

	logf("size %d: baselines on a fresh redis-server", n)
	base := redisserver.Start(t)
	seq, pipe, err := baselines(base, sh.candidates, reps)
	base.Kill()
	if err != nil {
		fail(fmt.Errorf("baselines: %w", err))
	}
	res.Seq, res.Pipe = seq, pipe
	logf("size %d: baseline %s, pipelined limit %s", n, ms(median(seq)), ms(median(pipe)))
	return res
}

// recoverWith starts a fresh worker with env, lets it settle (its boot run, when Redis let it
// have one), measures one recovery and stops it.
func (b *sizeBench) recoverWith(bin, dir string, env map[string]string) (recovery, error) {
	started := time.Now()
	w, err := startWorker(bin, dir, env)
	if err != nil {
		return recovery{}, err
	}
	defer w.stop()
	b.w = w
	if _, err := b.waitRun(30*time.Second, func(r *report) bool { return r.Trigger == "boot" && r.StartedAt.After(started) }); err != nil {
		time.Sleep(2 * time.Second) // no boot run of its own (deduplicated): it is up all the same
	}
	return b.recover()
}

func envList(env map[string]string) string {
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', msDecimals(d), 64) + " ms"
}

func msDecimals(d time.Duration) int {
	if d < 10*time.Millisecond {
		return 1
	}
	return 0
}

// machine describes where the bench ran.
func machine() []string {
	var lines []string
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
			}
		}
	}
	goVersion := strings.TrimSpace(cmdOutput("go", "version"))
	redisVersion := strings.TrimSpace(cmdOutput("redis-server", "--version"))
	lines = append(lines,
		fmt.Sprintf("- CPU: %d × %s (nproc %d)", runtime.NumCPU(), cpu, runtime.NumCPU()),
		"- memory: "+mem,
		"- Go: "+goVersion,
		"- Redis: "+redisVersion,
	)
	return lines
}

func cmdOutput(name string, args ...string) string {
	out, err := exec.CommandContext(context.Background(), name, args...).Output()
	if err != nil {
		return "?"
	}
	return string(out)
}

func durs[T any](xs []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func floats[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func msList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	return strings.Join(parts, ", ")
}

func render(results []sizeResult, reps int, env, ab map[string]string, idleFor, took time.Duration) string {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	sizes := make([]string, len(results))
	for i, r := range results {
		sizes[i] = strconv.Itoa(r.Rows)
	}
	cmd := "go run ./tests/bench -sizes " + strings.Join(sizes, ",") + " -reps " + strconv.Itoa(reps)
	if idleFor != 20*time.Second {
		cmd += " -idle " + idleFor.String()
	}
	if len(env) > 0 {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		cmd += " -env " + strings.Join(kv, ",")
	}
	if len(ab) > 0 {
		cmd += " -ab " + envList(ab)
	}
	p("### Run of %s (%s)", time.Now().UTC().Format("2006-01-02 15:04 UTC"), took.Round(time.Second))
	p("")
	p("Command (from the module root): `%s -out BENCHMARKS.md`", cmd)
	p("")
	for _, l := range machine() {
		p("%s", l)
	}
	p("- worker: the real binary (`go build ./cmd/reconciler`, no -race), WORKER_CONCURRENCY %s, other settings default except RECONCILE_SCHEDULE=off, KEYSPACE_EVENTS=off", results[0].Concurrency)
	p("- every figure is the median of %d runs (all runs listed in brackets, ms)", reps)
	p("")

	p("#### Recovery: Redis restarted empty → every lock back")
	p("")
	p("| rows | locks | total | detect | queue | setup | sheet read | plan | enqueue | restore tail | first pickup | restores (first→last) | worker CPU | ours/baseline | ours/limit | throughput vs limit | restore phase vs limit |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		rc := r.Recoveries
		if len(rc) == 0 {
			p("| %d | %d | failed: %s |", r.Rows, r.Locks, strings.Join(r.Errors, "; "))
			continue
		}
		total := median(durs(rc, func(x recovery) time.Duration { return x.Total }))
		seq, pipe := median(r.Seq), median(r.Pipe)
		restores := median(durs(rc, func(x recovery) time.Duration { return x.Restores }))
		p("| %d | %d | **%s** [%s] | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.0f | %.2f%% | %.1f%% |",
			r.Rows, r.Locks, ms(total), msList(durs(rc, func(x recovery) time.Duration { return x.Total })),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Detect }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Queue }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Setup }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Read }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Plan }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Enqueue }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Tail }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Pickup }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.Restores }))),
			ms(median(durs(rc, func(x recovery) time.Duration { return x.CPU }))),
			ratio(total, seq), ratio(total, pipe), 100/ratio(total, pipe), 100*ratio(pipe, restores))
	}
	p("")
	p("Columns: *detect* = PING answers → the worker logs the restart; *queue* → the reconcile task starts; *setup* → the batchGet is sent (read budget, pending mark); *sheet read* → the response is on the wire (emulator in the same box); *plan* → the first restore task is in Redis (JSON decode, row parsing, SCAN+MGET of the locks, planning, first enqueue; polled every 5 ms); *enqueue* → the reconcile finishes queueing (restores run alongside); *restore tail* → the last restore is logged. Total = detect + queue + setup + read + plan + enqueue + tail. *First pickup*: first task in Redis → first restore logged (overlaps enqueue); *restores*: first → last restore logged (with batches: from the start of the first batch's script call, its line's *write_ms* before the line). *Restore phase vs limit*: the pipelined limit's time over *restores* (throughput share).")
	p("")

	p("#### Cost per restored lock (recovery, whole run: Redis commands counted since the restart, scripts' inner commands included, net of the bench's polls)")
	p("")
	p("| rows | locks | Redis commands per lock | of which | Redis CPU per lock | worker CPU per lock |")
	p("| ---: | ---: | ---: | --- | ---: | ---: |")
	for _, r := range results {
		if len(r.Recoveries) == 0 {
			continue
		}
		rc := r.Recoveries[len(r.Recoveries)-1]
		var total float64
		keys := make([]string, 0, len(rc.Commands))
		for k, v := range rc.Commands {
			total += v
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return rc.Commands[keys[i]] > rc.Commands[keys[j]] })
		var parts []string
		for _, k := range keys {
			if per := rc.Commands[k] / float64(r.Locks); per >= 0.05 {
				parts = append(parts, fmt.Sprintf("%s %.2f", k, per))
			}
		}
		p("| %d | %d | %.1f | %s | %.1f µs | %.1f µs |", r.Rows, r.Locks, total/float64(r.Locks), strings.Join(parts, ", "),
			float64(median(durs(r.Recoveries, func(x recovery) time.Duration { return x.RedisCPU })).Microseconds())/float64(r.Locks),
			float64(median(durs(r.Recoveries, func(x recovery) time.Duration { return x.CPU })).Microseconds())/float64(r.Locks))
	}
	p("")

	p("#### Side by side (same locks, same machine, a fresh redis-server)")
	p("")
	p("| rows | locks | ours (recovery total) | ours (restores only) | baseline: EXISTS + SET NX EX + PERSIST, sequential | pipelined limit: SET NX × 1,000 | baseline per lock | ours per lock |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		if len(r.Recoveries) == 0 {
			continue
		}
		total := median(durs(r.Recoveries, func(x recovery) time.Duration { return x.Total }))
		restores := median(durs(r.Recoveries, func(x recovery) time.Duration { return x.Restores }))
		seq, pipe := median(r.Seq), median(r.Pipe)
		p("| %d | %d | %s | %s | %s [%s] | %s [%s] | %.1f µs | %.1f µs |", r.Rows, r.Locks, ms(total), ms(restores),
			ms(seq), msList(r.Seq), ms(pipe), msList(r.Pipe),
			float64(seq.Microseconds())/float64(r.Locks), float64(total.Microseconds())/float64(r.Locks))
	}
	p("")

	if len(ab) > 0 {
		p("#### A/B: recovery with the default environment and with `%s` (interleaved pairs, a fresh worker each, same Redis and sheet)", envList(ab))
		p("")
		p("| rows | locks | default: total | default: Redis commands per lock | %s: total | %s: Redis commands per lock | default vs %s |", envList(ab), envList(ab), envList(ab))
		p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, r := range results {
			if len(r.PairA) == 0 || len(r.PairB) == 0 {
				continue
			}
			a := median(durs(r.PairA, func(x recovery) time.Duration { return x.Total }))
			bb := median(durs(r.PairB, func(x recovery) time.Duration { return x.Total }))
			p("| %d | %d | **%s** [%s] | %.2f | **%s** [%s] | %.2f | %+.1f%% |", r.Rows, r.Locks,
				ms(a), msList(durs(r.PairA, func(x recovery) time.Duration { return x.Total })), commandsPerLock(r.PairA, r.Locks),
				ms(bb), msList(durs(r.PairB, func(x recovery) time.Duration { return x.Total })), commandsPerLock(r.PairB, r.Locks),
				100*(ratio(a, bb)-1))
		}
		p("")
	}

	p("#### Steady state: a reconcile with nothing missing (POST /reconcile)")
	p("")
	p("| rows | wall (report) | of which the sheet request on the wire | wall without the wire | POST → report saved | Sheets requests | response bytes | Redis commands (net) | top commands | replay: read+decode+parse | replay: SCAN+MGET | replay: plan | SCAN steps + pipelines (keys scanned) | worker CPU |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		st := r.Steadies
		if len(st) == 0 {
			continue
		}
		var top []string
		last := st[len(st)-1]
		keys := make([]string, 0, len(last.ByCommand))
		for k := range last.ByCommand {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return last.ByCommand[keys[i]] > last.ByCommand[keys[j]] })
		for i, k := range keys {
			if i == 6 {
				break
			}
			top = append(top, fmt.Sprintf("%s %.0f", k, last.ByCommand[k]))
		}
		rp := r.Replays
		var rpRead, rpScan, rpPlan string
		scan := ""
		if len(rp) > 0 {
			rpRead = ms(median(durs(rp, func(x replay) time.Duration { return x.Read })))
			rpScan = ms(median(durs(rp, func(x replay) time.Duration { return x.Scan })))
			rpPlan = ms(median(durs(rp, func(x replay) time.Duration { return x.Plan })))
			scan = fmt.Sprintf("%d + %d (%d)", rp[0].ScanSteps, rp[0].Pipelines, rp[0].Keys)
		}
		p("| %d | **%s** [%s] | %s | %s | %s | %d | %s | %.0f | %s | %s | %s | %s | %s | %s |", r.Rows,
			ms(median(durs(st, func(x steady) time.Duration { return x.Wall }))), msList(durs(st, func(x steady) time.Duration { return x.Wall })),
			ms(median(durs(st, func(x steady) time.Duration { return x.Wire }))),
			ms(median(durs(st, func(x steady) time.Duration { return x.Wall - x.Wire }))),
			ms(median(durs(st, func(x steady) time.Duration { return x.EndToEnd }))),
			median(ints(st, func(x steady) int { return x.Requests })),
			bytesStr(median(floats(st, func(x steady) float64 { return float64(x.Bytes) }))),
			median(floats(st, func(x steady) float64 { return x.Commands })), strings.Join(top, ", "),
			rpRead, rpScan, rpPlan, scan,
			ms(median(durs(st, func(x steady) time.Duration { return x.CPU }))))
	}
	p("")

	p("#### Idle cost: a worker in sync with nothing to do (after the boot reconcile; INFO commandstats deltas, scripts' inner commands included)")
	p("")
	p("| rows | measured over | Redis commands/s | top commands (per second) | worker CPU (share of one core) |")
	p("| ---: | ---: | ---: | --- | ---: |")
	for _, r := range results {
		if r.Idle != nil {
			p("| %d | %s | **%.1f** | %s | **%.2f%%** |", r.Rows, r.Idle.Over.Round(time.Second), r.Idle.PerSecond, r.Idle.top(8), 100*r.Idle.CoreShare)
		}
	}
	p("")

	p("#### Memory and boot")
	p("")
	p("| rows | worker peak RSS (VmHWM) | boot → in sync (start, first read with header, all restores) | errors logged by the worker |")
	p("| ---: | ---: | ---: | ---: |")
	for _, r := range results {
		p("| %d | %.1f MB | %s | %d |", r.Rows, float64(r.PeakRSSKB)/1024, ms(r.Boot), r.WorkerLogErr)
	}
	p("")
	for _, r := range results {
		for _, e := range r.Errors {
			p("- **error at %d rows**: %s", r.Rows, e)
		}
		if len(r.Recoveries) > 0 {
			o := r.Recoveries[0].Outcomes
			var parts []string
			for k, v := range o {
				parts = append(parts, fmt.Sprintf("%s %d", k, v))
			}
			sort.Strings(parts)
			p("- restore outcomes of the first recovery at %d rows: %s", r.Rows, strings.Join(parts, ", "))
		}
	}
	return b.String()
}

func ints[T any](xs []T, f func(T) int) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func bytesStr(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

const beginMarker, endMarker = "<!-- bench:begin -->", "<!-- bench:end -->"

// writeOut puts md between the markers of path, or writes the whole file.
func writeOut(path, md string) error {
	old, err := os.ReadFile(path)
	if err == nil {
		s := string(old)
		i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
		if i >= 0 && j > i {
			return os.WriteFile(path, []byte(s[:i+len(beginMarker)]+"\n"+md+"\n"+s[j:]), 0o644)
		}
	}
	return os.WriteFile(path, []byte("# Benchmarks\n\n"+beginMarker+"\n"+md+"\n"+endMarker+"\n"), 0o644)
}

// commandsPerLock is the median, over recoveries, of every Redis command executed (scripts'
// inner commands included) per lock.
func commandsPerLock(rs []recovery, locks int) float64 {
	per := make([]float64, len(rs))
	for i, r := range rs {
		for _, v := range r.Commands {
			per[i] += v
		}
		per[i] /= float64(locks)
	}
	return median(per)
}
