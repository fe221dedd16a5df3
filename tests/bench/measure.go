package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"reconciler/adapters/redislock"
	"reconciler/adapters/sheets"
	"reconciler/jobs"
	"reconciler/tests/redisserver"
	"reconciler/tests/sheetsemu"
)

// report is the part of jobs.Report the bench reads.
type report = jobs.Report

// sizeBench is one sheet size: its redis-server, emulator, proxy and worker.
type sizeBench struct {
	rows   int
	sheet  sheet
	rds    *redisserver.Server
	rdb    *redis.Client
	emu    *sheetsemu.Emulator
	proxy  *timingProxy
	w      *worker
	header []string

	// the bench's own commands, subtracted from INFO commandstats
	ownGet, ownHVals, ownLLen, ownZCard int
}

// recovery is one "Redis restarted empty" measurement.
type recovery struct {
	Locks    int
	Total    time.Duration // Redis answers PING → last lock written
	Detect   time.Duration // → the worker logs that Redis lost its data
	Queue    time.Duration // → the reconcile task starts (report started_at)
	Setup    time.Duration // → the batchGet is sent (report snapshot_at): budget, pending mark
	Read     time.Duration // → the batchGet response is completely on the wire
	Plan     time.Duration // → the first restore task is in Redis: decode, parse, SCAN+MGET, plan, first enqueue
	Enqueue  time.Duration // → report finished_at (the enqueue loop; restores run alongside)
	Tail     time.Duration // finished_at → last restore logged
	Restores time.Duration // first restore → last restore logged
	Pickup   time.Duration // first task in Redis → first restore logged (asynq's idle poll sleep)
	TookMS   int64         // the report log line's took_ms
	CPU      time.Duration // worker CPU time (user+sys) during the recovery
	Outcomes map[string]int
	// Redis commands executed since the restart (scripts' inner commands included), net of
	// the bench's own polls, and Redis CPU time since the restart.
	Commands map[string]float64
	RedisCPU time.Duration
}

// steady is one reconcile with nothing missing.
type steady struct {
	Wall      time.Duration // report finished_at − started_at
	Wire      time.Duration // the batchGet at the proxy: request in → response out (the emulator's time)
	EndToEnd  time.Duration // POST /reconcile → report saved
	Requests  int           // Sheets API requests (emulator counter)
	Bytes     int64         // response bytes
	Commands  float64       // Redis commands executed, net of the idle background
	ByCommand map[string]float64
	CPU       time.Duration
}

// replay is the steady-state plan's phases run in-process with the worker's own packages.
type replay struct {
	Read, Scan, Plan time.Duration
	ScanSteps        int
	Pipelines        int
	Keys             int64 // DBSIZE: what SCAN walks
}

func (b *sizeBench) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 3*time.Minute)
}

// lastReport reads reconciler:last_report.
func (b *sizeBench) lastReport() (*report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, err := b.rdb.Get(ctx, redislock.ReportKey).Bytes()
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// waitRun polls (every 20 ms, two O(1) commands) until a report matching want is saved and
// its run's tally adds up to what it enqueued.
func (b *sizeBench) waitRun(timeout time.Duration, want func(*report) bool) (*report, error) {
	deadline := time.Now().Add(timeout)
	var rep *report
	for time.Now().Before(deadline) {
		if rep == nil {
			b.ownGet++
			if r, err := b.lastReport(); err == nil && want(r) {
				rep = r
			}
		}
		if rep != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			b.ownHVals++
			vals, err := b.rdb.HVals(ctx, redislock.TallyKey(rep.RunID)).Result()
			cancel()
			if err == nil {
				var done int
				for _, v := range vals {
					n, _ := strconv.Atoi(v)
					done += n
				}
				if done >= rep.Enqueued {
					return rep, nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep == nil {
		return nil, errors.New("no matching report")
	}
	return rep, fmt.Errorf("run %s: restores not done within %s", rep.RunID, timeout)
}

// locksPresent counts the candidates' lock keys (EXISTS in pipelined chunks).
func (b *sizeBench) locksPresent() int {
	ctx, cancel := b.ctx()
	defer cancel()
	pipe := b.rdb.Pipeline()
	var cmds []*redis.IntCmd
	for i := 0; i < len(b.sheet.candidates); i += 1000 {
		part := b.sheet.candidates[i:min(i+1000, len(b.sheet.candidates))]
		keys := make([]string, len(part))
		for j, t := range part {
			keys[j] = "spool_lock:" + t
		}
		cmds = append(cmds, pipe.Exists(ctx, keys...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return -1
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n
}

// waitIdle waits until no restore or reconcile task is pending or active.
func (b *sizeBench) waitIdle() {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n := int64(0)
		for _, q := range []string{"restore", "reconcile"} {
			for _, s := range []string{"pending", "active"} {
				v, _ := b.rdb.LLen(ctx, "asynq:{"+q+"}:"+s).Result()
				n += v
			}
		}
		cancel()
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recover restarts redis-server empty (kill -9, start on the same port) and times every lock
// coming back.
func (b *sizeBench) recover() (recovery, error) {
	b.waitIdle()
	time.Sleep(300 * time.Millisecond)
	off := b.w.logOffset()
	pi := b.proxy.count()
	b.ownGet, b.ownHVals, b.ownLLen, b.ownZCard = 0, 0, 0, 0
	cpu0 := cpuTime(b.w.pid())
	b.rds.Restart() // returns once the new server answers PING
	up := time.Now()
	firstQueued := make(chan time.Time, 1)
	go b.watchFirstTask(firstQueued)
	rep, err := b.waitRun(3*time.Minute, func(r *report) bool { return r.Trigger == jobs.TriggerRedisRestart })
	queued := <-firstQueued
	cmds := b.commandStats()
	cmds["get"] -= float64(b.ownGet)
	cmds["hvals"] -= float64(b.ownHVals)
	cmds["llen"] -= float64(b.ownLLen)
	cmds["zcard"] -= float64(b.ownZCard)
	delete(cmds, "info")
	redisCPU := b.redisCPU()
	if err != nil {
		return recovery{}, fmt.Errorf("recovery: %w (log %s)", err, b.w.logPath)
	}
	cpu := cpuTime(b.w.pid()) - cpu0
	res := recovery{Locks: b.locksPresent(), CPU: cpu, Outcomes: map[string]int{}, Commands: cmds, RedisCPU: redisCPU}
	if res.Locks != len(b.sheet.candidates) {
		return res, fmt.Errorf("recovery: %d of %d locks back", res.Locks, len(b.sheet.candidates))
	}
	var detect, first, last time.Time
	for _, r := range b.w.records(off) {
		switch {
		case r.Msg == "Redis lost its data; reconciling everything" && detect.IsZero():
			detect = r.Time
		case (r.Msg == "restore" || r.Msg == "restore batch") && r.RunID == rep.RunID:
			if r.Msg == "restore" {
				res.Outcomes[r.Outcome]++
			} else {
				res.Outcomes["restored"] += r.Restored
				if n := r.Locks - r.Restored; n > 0 {
					res.Outcomes["not restored (see the per-spool lines)"] += n
				}
			}
			began := r.Time.Add(-time.Duration(r.WriteMS * float64(time.Millisecond)))
			if first.IsZero() || began.Before(first) {
				first = began
			}
			if r.Time.After(last) {
				last = r.Time
			}
		case r.Msg == "reconcile finished" && r.RunID == rep.RunID:
			res.TookMS = r.TookMS
		}
	}
	var readEnd time.Time
	for _, p := range b.proxy.since(pi) {
		if strings.Contains(p.Path, "batchGet") && p.Status == 200 {
			readEnd = p.End
		}
	}
	if detect.IsZero() || first.IsZero() || readEnd.IsZero() || queued.IsZero() {
		return res, fmt.Errorf("recovery: missing timestamps (detect %v, first restore %v, read end %v, first queued %v)", detect, first, readEnd, queued)
	}
	res.Total = last.Sub(up)
	res.Detect = detect.Sub(up)
	res.Queue = rep.StartedAt.Sub(detect)
	res.Setup = rep.SnapshotAt.Sub(rep.StartedAt)
	res.Read = readEnd.Sub(rep.SnapshotAt)
	res.Plan = queued.Sub(readEnd)
	res.Enqueue = rep.FinishedAt.Sub(queued)
	res.Tail = last.Sub(rep.FinishedAt)
	res.Restores = last.Sub(first)
	res.Pickup = first.Sub(queued)
	return res, nil
}

// watchFirstTask polls, every 5 ms and with one pipelined round trip, the restore queue's
// pending and active lists and completed set of a Redis that restarted empty, and sends the
// moment the first restore task shows up (zero after a minute).
func (b *sizeBench) watchFirstTask(out chan<- time.Time) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		pipe := b.rdb.Pipeline()
		a := pipe.LLen(ctx, "asynq:{restore}:pending")
		c := pipe.LLen(ctx, "asynq:{restore}:active")
		d := pipe.ZCard(ctx, "asynq:{restore}:completed")
		_, err := pipe.Exec(ctx)
		cancel()
		b.ownLLen += 2
		b.ownZCard++
		if err == nil && a.Val()+c.Val()+d.Val() > 0 {
			out <- time.Now()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	out <- time.Time{}
}

// commandStats reads INFO commandstats: command → calls.
func (b *sizeBench) commandStats() map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := b.rdb.Info(ctx, "commandstats").Result()
	out := map[string]float64{}
	if err != nil {
		return out
	}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out
}

// redisCPU is the server's used_cpu_user + used_cpu_sys (since it started).
func (b *sizeBench) redisCPU() time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := b.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func diff(a, b map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range b {
		if d := v - a[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// steadyState asks for a reconcile (POST /reconcile) with every lock in place and measures it.
func (b *sizeBench) steadyState() (steady, error) {
	b.waitIdle()
	// The idle background (restart watcher, asynq heartbeats and polls) over 2 s.
	bg0 := b.commandStats()
	bgStart := time.Now()
	time.Sleep(2 * time.Second)
	bg := diff(bg0, b.commandStats())
	bgDur := time.Since(bgStart)

	s0 := b.commandStats()
	pi := b.proxy.count()
	req0, bytes0 := b.emu.Requests(), b.emu.BytesServed()
	cpu0 := cpuTime(b.w.pid())
	start := time.Now()
	httpReq, _ := http.NewRequest(http.MethodPost, b.w.url("/reconcile"), nil)
	httpReq.SetBasicAuth("admin", "bench")
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		return steady{}, err
	}
	var accepted struct {
		TaskID string `json:"task_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return steady{}, fmt.Errorf("POST /reconcile: %s", resp.Status)
	}
	polls := 0
	var rep *report
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		polls++
		if r, err := b.lastReport(); err == nil && r.RunID == accepted.TaskID {
			rep = r
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	end := time.Now()
	if rep == nil {
		return steady{}, fmt.Errorf("steady state: no report for %s (log %s)", accepted.TaskID, b.w.logPath)
	}
	cpu := cpuTime(b.w.pid()) - cpu0
	d := diff(s0, b.commandStats())
	d["get"] -= float64(polls) // the bench's own polls
	delete(d, "info")          // the bench's INFO commandstats (the worker's INFO is in bg)
	scale := end.Sub(start).Seconds() / bgDur.Seconds()
	st := steady{
		Wall: rep.FinishedAt.Sub(rep.StartedAt), EndToEnd: end.Sub(start),
		Requests: b.emu.Requests() - req0, Bytes: b.emu.BytesServed() - bytes0,
		ByCommand: map[string]float64{}, CPU: cpu,
	}
	for _, p := range b.proxy.since(pi) {
		if strings.Contains(p.Path, "batchGet") {
			st.Wire += p.End.Sub(p.Start)
		}
	}
	for k, v := range d {
		if k == "info" {
			continue
		}
		net := v - bg[k]*scale
		if net < 0.5 {
			continue
		}
		st.ByCommand[k] = net
		st.Commands += net
	}
	if rep.Missing != 0 {
		return st, fmt.Errorf("steady state: %d missing", rep.Missing)
	}
	return st, nil
}

// countingHook counts what go-redis sends: single commands and pipelines (round trips).
type countingHook struct{ single, pipelines, scans int }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "hello", "client":
		default:
			h.single++
			if cmd.Name() == "scan" {
				h.scans++
			}
		}
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() != "hello" {
			h.pipelines++
		}
		return next(ctx, cmds)
	}
}

// replayPlan runs the steady-state plan's phases in-process with the worker's own code:
// adapters/sheets (API against the emulator, header already cached), redislock.AllLocks,
// jobs.MakePlan. It tells which phase dominates and the exact round trips of the lock scan.
func (b *sizeBench) replayPlan() (replay, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	api, err := sheets.NewAPI(ctx, sheets.APIConfig{SpreadsheetID: b.emu.SpreadsheetID(), SheetName: "Operaciones",
		Endpoint: b.emu.Endpoint(), Location: sheetsemu.Santiago})
	if err != nil {
		return replay{}, err
	}
	if _, err := api.Read(ctx); err != nil { // caches the header, like a running worker
		return replay{}, err
	}
	var r replay
	t := time.Now()
	snap, err := api.Read(ctx)
	if err != nil {
		return r, err
	}
	r.Read = time.Since(t)
	client := redis.NewClient(&redis.Options{Addr: b.rds.Addr(), PoolSize: 2})
	defer client.Close()
	_ = client.Ping(ctx).Err()
	hook := &countingHook{}
	client.AddHook(hook)
	store := redislock.New(client, redislock.Options{Location: sheetsemu.Santiago})
	t = time.Now()
	locks, err := store.AllLocks(ctx)
	if err != nil {
		return r, err
	}
	r.Scan = time.Since(t)
	r.ScanSteps, r.Pipelines = hook.scans, hook.pipelines
	r.Keys, _ = client.DBSize(ctx).Result()
	t = time.Now()
	plan := jobs.MakePlan(snap.Rows, locks, time.Now(), jobs.DefaultRules, nil)
	r.Plan = time.Since(t)
	if plan.Report.Missing != 0 {
		return r, fmt.Errorf("replay: %d missing", plan.Report.Missing)
	}
	return r, nil
}

// baselines times, on their own fresh redis-server, (a) the backend's original algorithm:
// per spool, sequentially over one connection, EXISTS, SET key value NX EX ttl, PERSIST;
// and (b) the pipelined limit: SET key value NX in pipelines of 1,000.
func baselines(rds *redisserver.Server, tags []string, reps int) (seq, pipe []time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := redis.NewClient(&redis.Options{Addr: rds.Addr(), PoolSize: 1, MinIdleConns: 1})
	defer client.Close()
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, nil, err
	}
	now := time.Now().In(sheetsemu.Santiago).Format("02-01-2006 15:04:05")
	values := make([]string, len(tags))
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = "spool_lock:" + t
		values[i] = fmt.Sprintf("%d:%s:%s", 1+i%97, uuid.NewString(), now)
	}
	check := func() error {
		n, err := client.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if int(n) != len(keys) {
			return fmt.Errorf("baseline wrote %d keys, want %d", n, len(keys))
		}
		return client.FlushAll(ctx).Err()
	}
	for range reps {
		t := time.Now()
		for i, k := range keys {
			n, err := client.Exists(ctx, k).Result()
			if err != nil {
				return nil, nil, err
			}
			if n > 0 {
				continue
			}
			if err := client.SetNX(ctx, k, values[i], 3600*time.Second).Err(); err != nil {
				return nil, nil, err
			}
			if err := client.Persist(ctx, k).Err(); err != nil {
				return nil, nil, err
			}
		}
		seq = append(seq, time.Since(t))
		if err := check(); err != nil {
			return nil, nil, err
		}

		t = time.Now()
		for start := 0; start < len(keys); start += 1000 {
			p := client.Pipeline()
			for i := start; i < min(start+1000, len(keys)); i++ {
				p.SetNX(ctx, keys[i], values[i], 0)
			}
			if _, err := p.Exec(ctx); err != nil {
				return nil, nil, err
			}
		}
		pipe = append(pipe, time.Since(t))
		if err := check(); err != nil {
			return nil, nil, err
		}
	}
	return seq, pipe, nil
}

func median[T int64 | time.Duration | float64 | int](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
